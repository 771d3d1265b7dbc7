//! Failed-login throttling, per account *and client address*: an address that failed `max`
//! sign-ins for an account within the window (15 minutes after its last failure) is refused for
//! that account until the window passes or it signs in; the owner, at another address, is not
//! (a lock per account let anyone lock anyone out). Guessing spread over many addresses is
//! slowed, not locked: past `ACCOUNT_SLOWDOWN_FACTOR × max` failures of the account in the
//! window, it takes one attempt per `SLOW` from all addresses together. The edge also budgets
//! sign-ins per address. The counters
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
const ACCOUNT_SLOWDOWN_FACTOR: u32 = 5;
const SLOW: Duration = Duration::from_secs(2);

/// Why a sign-in must wait, and at most how many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// This address failed too often for this account.
    Address(u64),
    /// The account is being guessed at from many addresses.
    Account(u64),
}

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

    fn pair(username_lower: &str, client: &str) -> String {
        format!("pair:{username_lower}:{client}")
    }

    fn account(username_lower: &str) -> String {
        format!("acct:{username_lower}")
    }

    /// Whether a sign-in for this account from this address must wait. Fails open.
    pub async fn wait(&self, username_lower: &str, client: &str) -> Option<Wait> {
        let pair = self.failures(&Self::pair(username_lower, client)).await;
        if pair >= self.max {
            return Some(Wait::Address(WINDOW.as_secs()));
        }
        let account = self.failures(&Self::account(username_lower)).await;
        if account >= self.max.saturating_mul(ACCOUNT_SLOWDOWN_FACTOR) {
            // One attempt per SLOW for the account, whoever makes it.
            let slow = format!("slow:{username_lower}");
            if self.failures(&slow).await > 0 {
                return Some(Wait::Account(SLOW.as_secs()));
            }
            self.note(&slow, SLOW).await;
        }
        None
    }

    pub async fn record_failure(&self, username_lower: &str, client: &str) {
        self.note(&Self::pair(username_lower, client), WINDOW).await;
        self.note(&Self::account(username_lower), WINDOW).await;
    }

    /// A successful sign-in clears its address's count for the account; the account's total
    /// stays, so a guessing campaign elsewhere is still slowed.
    pub async fn clear(&self, username_lower: &str, client: &str) {
        if let Err(error) = self
            .counter
            .clear(&Self::pair(username_lower, client))
            .await
        {
            tracing::warn!(%error, "login throttle store unavailable; failed-login counter not cleared");
        }
    }

    async fn failures(&self, key: &str) -> u32 {
        match self.counter.failures(key).await {
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(%error, "login throttle store unavailable; throttle open");
                0
            }
        }
    }

    async fn note(&self, key: &str, window: Duration) {
        if let Err(error) = self.counter.record(key, window).await {
            tracing::warn!(%error, "login throttle store unavailable; failed login not counted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_guessing_address_waits_while_the_owner_elsewhere_does_not() {
        let t = Throttle::new(Arc::new(MemoryCounter::new(100)), 3);
        for _ in 0..3 {
            t.record_failure("ana", "203.0.113.9").await;
        }
        assert_eq!(t.wait("ana", "203.0.113.9").await, Some(Wait::Address(900)));
        assert_eq!(t.wait("ana", "198.51.100.1").await, None);
        // Spread over many addresses: slowed to one attempt per 2 s, not locked.
        for i in 0..15 {
            t.record_failure("ana", &format!("192.0.2.{i}")).await;
        }
        assert_eq!(t.wait("ana", "198.51.100.1").await, None);
        assert_eq!(t.wait("ana", "198.51.100.1").await, Some(Wait::Account(2)));
        // A success clears only its own address.
        t.clear("ana", "203.0.113.9").await;
        assert_ne!(t.wait("ana", "203.0.113.9").await, Some(Wait::Address(900)));
    }
}
