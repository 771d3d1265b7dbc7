use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = parley_receipts::Settings::parse();
    parley_kit::telemetry::init("receipts", &settings.common.log_format);
    let shutdown = parley_kit::shutdown::on_signal();
    let app = parley_receipts::Receipts::build(settings).await?;
    app.run(shutdown).await
}
