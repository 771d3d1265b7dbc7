//! `parley-jetstream apply`: provision streams and consumers idempotently and report drift.
//! `parley-jetstream auth`: the NATS users' permissions (`config`) and key pairs (`keys`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use parley_jetstream::{Change, Topology, apply, auth};

#[derive(Parser)]
#[command(about = "Provision Parley's JetStream streams and consumers, and its NATS users")]
struct Cli {
    /// NATS server URL, or a comma-separated list of a cluster's nodes.
    #[arg(long, env = "PARLEY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// File with this tool's NKey seed (`parley-jetstream.nk` from `auth keys`).
    #[arg(long, env = "PARLEY_NATS_CREDS")]
    nats_creds: Option<PathBuf>,
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
    /// NATS users: permissions and keys.
    #[command(subcommand)]
    Auth(AuthCmd),
}

#[derive(Subcommand)]
enum AuthCmd {
    /// Print nats-server's `authorization` block (committed as jetstream/nats-auth.conf).
    Config,
    /// Make a key pair per role in DIR (`<role>.nk` seeds, kept if present) and write the
    /// public keys to DIR/nkeys.env for nats-server.
    Keys {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Auth(AuthCmd::Config) => print!("{}", auth::render_config(&auth::roles())),
        Cmd::Auth(AuthCmd::Keys { dir }) => {
            for change in auth::generate_keys(&dir, &auth::roles())? {
                match change {
                    auth::KeyChange::Created(n) => println!("created   {n}"),
                    auth::KeyChange::Kept(n) => println!("kept      {n}"),
                }
            }
        }
        Cmd::Apply => {
            // async-nats parses a string as one URL: split a cluster's list here.
            let addrs = cli
                .nats_url
                .split(',')
                .map(|u| u.trim().parse::<async_nats::ServerAddr>())
                .collect::<Result<Vec<_>, _>>()?;
            let client = auth::connect_options(cli.nats_creds.as_deref(), "parley-jetstream")?
                .connect(addrs)
                .await?;
            let js = async_nats::jetstream::new(client);
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
