//! The worker kit: what every Parley binary shares so that a new worker is mostly its handler.
//!
//! Settings ([`CommonArgs`]) → telemetry ([`telemetry::init`]) → metrics + ops endpoints
//! ([`ops`]) → NATS ([`nats`]) → the consume loop ([`consume`]) or a request/reply service
//! ([`service`]) → drain on SIGTERM ([`shutdown`]). It holds no domain logic.

pub mod args;
pub mod batch;
pub mod breaker;
pub mod consume;
#[cfg(feature = "db")]
pub mod db;
pub mod follow;
pub mod members;
pub mod metrics_names;
pub mod nats;
pub mod ops;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod trace;
#[cfg(feature = "db")]
pub mod worker;

pub use args::CommonArgs;
pub use tokio_util::sync::CancellationToken;

/// Print the bound address on stdout so that supervisors and tests that passed port 0 learn it.
pub fn announce(kind: &str, addr: std::net::SocketAddr) {
    println!("parley: listening kind={kind} addr={addr}");
}
