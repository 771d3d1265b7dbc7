//! Shared state of the edge: NATS handles, caches, limiters. Nothing durable.

use std::sync::{Arc, Mutex};

use parley_kit::members::MemberCache;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Verifier;
use crate::ratelimit::{Bucket, PerAddress, PerUser};

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct Inner {
    pub nats: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    /// Stores commands in JetStream, concurrent ones as one atomic batch.
    pub committer: crate::committer::Committer,
    pub verifier: Verifier,
    pub members: MemberCache,
    /// Read-receipt settings, to mask read watermarks shown to others.
    pub read_settings: parley_kit::settings::SettingsCache,
    pub settings: crate::Settings,
    /// Open WebSocket connections (permits) and their tasks.
    pub connections: Arc<Semaphore>,
    pub conn_tasks: TaskTracker,
    /// Slots for catch-ups (`sync`, contacts' presence on connect); see `catchup_concurrency`.
    pub catchup: Arc<Semaphore>,
    /// Cancelled when the edge drains: connections tell clients to reconnect elsewhere.
    pub draining: CancellationToken,
    pub accept_rate: Mutex<Bucket>,
    pub user_rate: PerUser,
    /// New sockets, REST requests, and sign-ins (register, login, refresh: each an Argon2 hash
    /// or a token rotation) per client address, spent before any shared budget.
    pub address_accept: PerAddress,
    pub address_rest: PerAddress,
    pub address_auth: PerAddress,
    pub readiness: parley_kit::ops::Readiness,
}
