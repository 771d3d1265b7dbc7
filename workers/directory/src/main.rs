use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = parley_directory::Settings::parse();
    parley_kit::telemetry::init("directory", &settings.common.log_format);
    let shutdown = parley_kit::shutdown::on_signal();
    let app = parley_directory::Directory::build(settings).await?;
    app.run(shutdown).await
}
