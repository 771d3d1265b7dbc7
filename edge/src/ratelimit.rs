//! Token buckets: per connection, per user (on this edge) and for accepting connections.

use std::collections::HashMap;
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

/// One bucket per user, bounded: idle users are forgotten when the map grows.
pub struct PerUser {
    buckets: Mutex<HashMap<Uuid, Bucket>>,
    rate: f64,
    burst: f64,
    capacity: usize,
}

impl PerUser {
    pub fn new(rate: f64, burst: f64, capacity: usize) -> Self {
        Self {
            buckets: Mutex::default(),
            rate,
            burst,
            capacity,
        }
    }

    pub fn try_take(&self, user: Uuid) -> bool {
        let Ok(mut map) = self.buckets.lock() else {
            return true;
        };
        if map.len() >= self.capacity && !map.contains_key(&user) {
            // A full bucket is indistinguishable from a forgotten one: drop those.
            let now = Instant::now();
            let full_after = self.burst / self.rate;
            map.retain(|_, b| now.saturating_duration_since(b.last).as_secs_f64() < full_after);
        }
        map.entry(user)
            .or_insert_with(|| Bucket::new(self.rate, self.burst))
            .try_take()
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
