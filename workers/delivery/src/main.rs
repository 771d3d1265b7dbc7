use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = parley_delivery::Settings::parse();
    parley_kit::telemetry::init("delivery", &settings.common.log_format);
    let shutdown = parley_kit::shutdown::on_signal();
    let app = parley_delivery::Delivery::build(settings).await?;
    app.run(shutdown).await
}
