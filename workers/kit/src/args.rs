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
