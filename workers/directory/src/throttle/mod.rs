//! Failed-login throttling: a username that failed `max` logins within the window (15 minutes
//! after its last failure) is refused until the window passes or a login succeeds. The counters
//! live behind [`FailureCounter`]: in Redis, shared by every directory instance (the default),
//! or in this process (`--login-throttle-store memory`: no Redis needed, each instance counts
//! on its own). If the store fails, the throttle fails open (logins still work) and says so in
//! the logs and metrics (and `/readyz`, whose Redis check the kit registers).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

mod memory;
mod redis;

#[cfg(test)]
mod conformance;

pub use self::memory::MemoryCounter;
pub use self::redis::RedisCounter;

const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Which store keeps the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// Redis, shared by every directory instance.
    Redis,
    /// This process's memory: a user gets the budget once per directory instance.
    Memory,
}

#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
}

/// Failure counters per key over a window that restarts with every failure. Every backend
/// passes the same suite (`conformance.rs`).
pub trait FailureCounter: Send + Sync + 'static {
    /// Failures counted for `key` in its current window (0 once it passed).
    fn failures<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u32, CounterError>>;
    /// Count one failure for `key`; its window restarts now.
    fn record<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<(), CounterError>>;
    /// Forget `key`'s failures.
    fn clear<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CounterError>>;
}

pub struct Throttle {
    counter: Arc<dyn FailureCounter>,
    max: u32,
}

impl Throttle {
    pub fn new(counter: Arc<dyn FailureCounter>, max: u32) -> Self {
        Self { counter, max }
    }

    /// True when this username has used up its failed attempts.
    pub async fn is_blocked(&self, username_lower: &str) -> bool {
        match self.counter.failures(username_lower).await {
            Ok(n) => n >= self.max,
            Err(error) => {
                tracing::warn!(%error, "login throttle store unavailable; throttle open");
                false
            }
        }
    }

    pub async fn record_failure(&self, username_lower: &str) {
        if let Err(error) = self.counter.record(username_lower, WINDOW).await {
            tracing::warn!(%error, "login throttle store unavailable; failed login not counted");
        }
    }

    pub async fn clear(&self, username_lower: &str) {
        if let Err(error) = self.counter.clear(username_lower).await {
            tracing::warn!(%error, "login throttle store unavailable; failed-login counter not cleared");
        }
    }
}
