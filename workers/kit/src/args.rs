//! Options every binary takes; each binary flattens these into its own clap struct, so
//! `--help` documents every option and `PARLEY_*` environment variables override defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// NATS server URL(s), comma-separated.
    #[arg(long, env = "PARLEY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// File with this binary's NATS NKey seed (`<binary>.nk`, made by `parley-jetstream auth
    /// keys`). Parley's NATS configs refuse clients without one. The seed is never logged.
    #[arg(long, env = "PARLEY_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// Stream replicas used when this process provisions streams (3 in production).
    #[arg(long, env = "PARLEY_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// Log format: `json` (production) or `text`.
    #[arg(long, env = "PARLEY_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Seconds to wait for in-flight work on SIGTERM before exiting anyway.
    #[arg(long, env = "PARLEY_DRAIN_SECONDS", default_value_t = 10)]
    pub drain_seconds: u64,
}

/// Options of workers that serve only the ops endpoints (`/healthz`, `/readyz`, `/metrics`).
#[derive(Debug, Clone, clap::Args)]
pub struct OpsArgs {
    /// Address of the ops HTTP listener (port 0 picks a free port, printed on stdout).
    #[arg(long, env = "PARLEY_OPS_LISTEN")]
    pub ops_listen: Option<SocketAddr>,
}

/// Options of workers that own a PostgreSQL schema.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// PostgreSQL URL; the worker creates and owns its own schema there.
    #[arg(
        long,
        env = "PARLEY_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/parley"
    )]
    pub database_url: String,
    /// Database connections.
    #[arg(long, env = "PARLEY_DB_POOL", default_value_t = 10)]
    pub db_pool: u32,
}

/// Options of workers that keep state in Redis.
#[cfg(feature = "redis")]
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Redis URL.
    #[arg(
        long,
        env = "PARLEY_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Prefix for every Redis key this process writes.
    #[arg(long, env = "PARLEY_REDIS_PREFIX", default_value = "parley:")]
    pub redis_prefix: String,
}

/// Options of binaries that publish groups of messages to JetStream ([`crate::batch`]).
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Groups of at least this many messages go to JetStream as one atomic batch (one synced
    /// write for all); smaller ones as pipelined single publishes, which cost less below it
    /// (at least 2).
    #[arg(long, env = "PARLEY_ATOMIC_MIN", default_value_t = crate::batch::ATOMIC_MIN)]
    pub atomic_min: usize,
    /// Use atomic batches at all (`false`: always single publishes, for servers without atomic
    /// batches and for comparison runs).
    #[arg(long, env = "PARLEY_ATOMIC_BATCHES", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub atomic_batches: bool,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Publisher {
        #[command(flatten)]
        publish: super::PublishArgs,
    }

    #[test]
    fn atomic_batch_options_are_in_help_and_parse_from_flags() {
        let help = Publisher::command().render_help().to_string();
        for needle in [
            "--atomic-min",
            "PARLEY_ATOMIC_MIN",
            "--atomic-batches",
            "PARLEY_ATOMIC_BATCHES",
        ] {
            assert!(help.contains(needle), "{needle} missing from:\n{help}");
        }
        let p = Publisher::try_parse_from(["p", "--atomic-min", "8", "--atomic-batches", "0"])
            .expect("parse");
        assert_eq!(p.publish.atomic_min, 8);
        assert!(!p.publish.atomic_batches);
        assert!(Publisher::try_parse_from(["p", "--atomic-min", "many"]).is_err());
    }
}
