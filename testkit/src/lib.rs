//! Test fixtures over real infrastructure: a nats-server with JetStream on a free port and a
//! temporary store, a fresh PostgreSQL database, a Redis key prefix, Parley's binaries spawned
//! as processes (so tests can `kill -9` them), and small HTTP/WebSocket clients.
//!
//! Binaries are found next to the test executable (`target/<profile>/`), so run
//! `cargo build --workspace --bins` before the tests (the test script does).

mod clients;
mod outage;
mod process;
mod scale;
mod services;

pub use clients::{Api, Session, Ws};
pub use outage::{TcpProxy, await_readyz};
pub use process::{NATS_KEYS_ENV, Proc, Stack, StackOptions, redis_url};
pub use scale::{Replicas, STATELESS_WORKERS, history, history_of_at_least};
pub use services::{FIXTURE_ROLE, Keys, NatsServer, TestDb};
/// For tests that inspect a worker's tables directly.
pub use sqlx;

/// Give up on a condition after this long.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
