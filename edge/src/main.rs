use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = parley_edge::Settings::parse();
    parley_kit::telemetry::init("edge", &settings.common.log_format);
    let shutdown = parley_kit::shutdown::on_signal();
    let edge = parley_edge::Edge::build(settings).await?;
    parley_kit::announce("http", edge.local_addr());
    edge.run(shutdown).await
}
