//! The worker kit: what every Parley binary shares so that a new worker is mostly its handler.
//!
//! A worker implements [`Worker`] and its `main` is [`main`]: the kit owns settings
//! ([`CommonArgs`]), telemetry ([`telemetry::init`]), stores, metrics + ops endpoints ([`ops`]),
//! NATS ([`nats`]) and the drain on SIGTERM ([`shutdown`]); the worker brings its handlers for
//! the consume loop ([`consume`]) and request/reply services ([`service`]). It holds no domain
//! logic.

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
pub mod worker;

pub use args::CommonArgs;
pub use tokio_util::sync::CancellationToken;
pub use worker::{App, Base, Tasks, Worker, WorkerSettings, main};

/// Print the bound address on stdout so that supervisors and tests that passed port 0 learn it.
pub fn announce(kind: &str, addr: std::net::SocketAddr) {
    println!("parley: listening kind={kind} addr={addr}");
}
