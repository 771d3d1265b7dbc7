//! Token buckets: per connection, per user and per client address (on this edge), and for
//! accepting connections.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            last: Instant::now(),
            rate,
            burst,
        }
    }

    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Seconds until a token is available.
    pub fn wait_seconds(&self) -> f64 {
        if self.tokens >= 1.0 {
            0.0
        } else {
            (1.0 - self.tokens) / self.rate
        }
    }
}

/// One bucket per key (a user, a client address), bounded: idle keys are forgotten when the
/// map grows.
pub struct PerKey<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
    rate: f64,
    burst: f64,
    capacity: usize,
}

pub type PerUser = PerKey<Uuid>;
pub type PerAddress = PerKey<std::net::IpAddr>;

impl<K: Hash + Eq + Copy> PerKey<K> {
    pub fn new(rate: f64, burst: f64, capacity: usize) -> Self {
        Self {
            buckets: Mutex::default(),
            rate,
            burst,
            capacity,
        }
    }

    pub fn try_take(&self, key: K) -> bool {
        self.take_or_wait(key).is_none()
    }

    /// `None` when a token was taken, else the whole seconds until one is available.
    pub fn take_or_wait(&self, key: K) -> Option<u64> {
        let Ok(mut map) = self.buckets.lock() else {
            return None;
        };
        if map.len() >= self.capacity && !map.contains_key(&key) {
            // A full bucket is indistinguishable from a forgotten one: drop those.
            let now = Instant::now();
            let full_after = self.burst / self.rate;
            map.retain(|_, b| now.saturating_duration_since(b.last).as_secs_f64() < full_after);
        }
        let bucket = map
            .entry(key)
            .or_insert_with(|| Bucket::new(self.rate, self.burst));
        if bucket.try_take() {
            None
        } else {
            Some(bucket.wait_seconds().ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_rate() {
        let start = Instant::now();
        let mut b = Bucket::new(10.0, 2.0);
        assert!(b.try_take_at(start));
        assert!(b.try_take_at(start));
        assert!(!b.try_take_at(start));
        assert!(b.try_take_at(start + Duration::from_millis(100)));
        assert!(!b.try_take_at(start + Duration::from_millis(100)));
    }

    #[test]
    fn per_user_is_independent() {
        let p = PerUser::new(1.0, 1.0, 10);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(p.try_take(a));
        assert!(!p.try_take(a));
        assert!(p.try_take(b));
    }
}
