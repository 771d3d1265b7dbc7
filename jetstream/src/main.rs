//! `parley-jetstream apply`: provision streams and consumers idempotently and report drift.

use clap::{Parser, Subcommand};
use parley_jetstream::{Change, Topology, apply};

#[derive(Parser)]
#[command(about = "Provision Parley's JetStream streams and consumers")]
struct Cli {
    /// NATS server URL, or a comma-separated list of a cluster's nodes.
    #[arg(long, env = "PARLEY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Stream replicas (1 for a single node, 3 for a production cluster).
    #[arg(long, env = "PARLEY_STREAM_REPLICAS", default_value_t = 1)]
    replicas: usize,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create what is missing, update what drifted, print what happened.
    Apply,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // async-nats parses a string as one URL: split a cluster's list here.
    let addrs = cli
        .nats_url
        .split(',')
        .map(|u| u.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()?;
    let client = async_nats::connect(addrs).await?;
    let js = async_nats::jetstream::new(client);
    match cli.command {
        Cmd::Apply => {
            for change in apply(
                &js,
                Topology {
                    replicas: cli.replicas,
                },
            )
            .await?
            {
                match change {
                    Change::Created(n) => println!("created   {n}"),
                    Change::Updated(n) => println!("updated   {n} (drift corrected)"),
                    Change::Unchanged(n) => println!("unchanged {n}"),
                }
            }
        }
    }
    Ok(())
}
