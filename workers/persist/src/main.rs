use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = parley_persist::Settings::parse();
    parley_kit::telemetry::init("persist", &settings.common.log_format);
    let shutdown = parley_kit::shutdown::on_signal();
    let app = parley_persist::Persist::build(settings).await?;
    app.run(shutdown).await
}
