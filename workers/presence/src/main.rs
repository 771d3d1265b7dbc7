use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = parley_presence::Settings::parse();
    parley_kit::telemetry::init("presence", &settings.common.log_format);
    let shutdown = parley_kit::shutdown::on_signal();
    let app = parley_presence::Presence::build(settings).await?;
    app.run(shutdown).await
}
