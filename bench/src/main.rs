//! `parley-bench`: Parley's load generator. `latency` (the default) is the original open-loop
//! latency benchmark; `load` drives up to 10,000 clients through worker processes with named
//! scenarios; `read` measures the read path (history depth, conversation list, sync). Talks to
//! a running Parley over its public protocol only; results go to `bench/results/` and
//! `bench/RESULTS.md`.

mod accounts;
mod hist;
mod latency;
mod load;
mod procstat;
mod read;
mod report;
mod scrape;
mod svg;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "parley-bench",
    about = "Parley load generator and benchmarks",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Without a subcommand: the latency benchmark's options.
    #[command(flatten)]
    latency: latency::Args,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Open-loop latency benchmark (one process; the default).
    Latency(latency::Args),
    /// Many connections over worker processes: sustained, burst, typing, receipts, reconnect storm.
    Load(load::Args),
    /// Read path: history pages at random depths, conversation list, sync after offline.
    Read(read::Args),
    /// Internal: one worker process of `load` (plan on stdin, reports on stdout).
    #[command(hide = true)]
    Worker,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        None => latency::run(cli.latency).await,
        Some(Cmd::Latency(a)) => latency::run(a).await,
        Some(Cmd::Load(a)) => load::run(a).await.map(|_| ()),
        Some(Cmd::Read(a)) => read::run(a).await.map(|_| ()),
        Some(Cmd::Worker) => load::worker::run().await,
    }
}
