//! Failure counters in this process: the embedded default when no Redis is configured. Bounded:
//! past `capacity` keys, expired ones are dropped first, then all (the throttle then forgets,
//! as it does when Redis loses its data).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::{CounterError, FailureCounter};

pub struct MemoryCounter {
    /// Failures and when their window ends, per key.
    counts: Mutex<HashMap<String, (u32, Instant)>>,
    capacity: usize,
}

impl MemoryCounter {
    pub fn new(capacity: usize) -> Self {
        Self {
            counts: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        // A panic while holding the lock leaves counters that are still counters.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl FailureCounter for MemoryCounter {
    fn failures<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u32, CounterError>> {
        let now = Instant::now();
        let n = match self.counts().get(key) {
            Some(&(n, until)) if until > now => n,
            _ => 0,
        };
        Box::pin(std::future::ready(Ok(n)))
    }

    fn record<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<(), CounterError>> {
        let now = Instant::now();
        let mut counts = self.counts();
        if counts.len() >= self.capacity && !counts.contains_key(key) {
            counts.retain(|_, (_, until)| *until > now);
            if counts.len() >= self.capacity {
                counts.clear();
            }
        }
        let entry = counts.entry(key.to_string()).or_insert((0, now));
        let live = if entry.1 > now { entry.0 } else { 0 };
        *entry = (live.saturating_add(1), now + window);
        Box::pin(std::future::ready(Ok(())))
    }

    fn clear<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CounterError>> {
        self.counts().remove(key);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_backend_stays_within_its_capacity() {
        let b = MemoryCounter::new(2);
        let long = Duration::from_secs(60);
        for key in ["a", "b", "c"] {
            b.record(key, long).await.expect("record");
        }
        assert!(b.counts().len() <= 2);
        assert_eq!(
            b.failures("c").await.ok(),
            Some(1),
            "the newest key is kept"
        );
    }
}
