//! Test fixtures over real infrastructure: a nats-server with JetStream on a free port and a
//! temporary store, a fresh PostgreSQL database, a Redis key prefix (`PARLEY_TEST_REDIS_URL`,
//! its keys deleted on drop), Parley's binaries spawned as processes (so tests can `kill -9`
//! them) — a [`Stack`] runs the edge and only the [`Worker`]s a test names —, a [`Bus`] for
//! tests that run a worker in-process and speak NATS to it, and small HTTP/WebSocket clients.
//!
//! Binaries are found next to the test executable (`target/<profile>/`), so run
//! `cargo build --workspace --bins` before the tests (the test script does).

mod bus;
mod clients;
mod outage;
mod process;
mod scale;
mod services;
mod workers;

pub use bus::{Bus, Events, await_service};
pub use clients::{Api, Session, Ws};
pub use outage::{TcpProxy, await_readyz};
pub use process::{NATS_KEYS_ENV, Proc, Stack, StackBuilder, redis_url};
pub use scale::{Replicas, history, history_of_at_least};
pub use services::{FIXTURE_ROLE, Keys, NatsServer, RedisPrefix, TestDb};
/// For tests that inspect a worker's tables directly.
pub use sqlx;
pub use workers::Worker;

/// Give up on a condition after this long.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
