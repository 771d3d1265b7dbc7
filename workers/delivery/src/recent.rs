//! The message and receipt events routed lately, by key (their `Nats-Msg-Id`: `commandId:kind`,
//! `conversation:user:delivered:read`): an event comes twice, its live copy (from persist or
//! receipts) and its copy from EVENTS, and only the first is routed.
//!
//! Two generations of keys: lookups see both, inserts go to the current one, and when it is
//! full or older than the window it becomes the previous one (the older keys are dropped). So
//! memory stays bounded and a key is remembered for at least one window, or for at least
//! `capacity` later keys when events come faster than that.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Recent {
    inner: Mutex<Generations>,
    window: Duration,
    capacity: usize,
}

struct Generations {
    current: HashSet<String>,
    previous: HashSet<String>,
    since: Instant,
}

impl Recent {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Generations {
                current: HashSet::new(),
                previous: HashSet::new(),
                since: Instant::now(),
            }),
            window,
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.inner
            .lock()
            .map(|g| g.current.contains(key) || g.previous.contains(key))
            .unwrap_or(false)
    }

    pub fn insert(&self, key: String) {
        if let Ok(mut g) = self.inner.lock() {
            if g.current.len() >= self.capacity || g.since.elapsed() >= self.window {
                g.previous = std::mem::take(&mut g.current);
                g.since = Instant::now();
            }
            g.current.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_a_window_and_stays_bounded() {
        let r = Recent::new(Duration::from_secs(60), 2);
        r.insert("a".into());
        r.insert("b".into());
        assert!(r.contains("a") && r.contains("b"));
        // Full: the next insert starts a new generation, the old one is still seen.
        r.insert("c".into());
        assert!(r.contains("a") && r.contains("c"));
        r.insert("d".into());
        r.insert("e".into());
        assert!(!r.contains("a"), "two generations back is forgotten");
        assert!(r.contains("c") && r.contains("d") && r.contains("e"));
    }

    #[test]
    fn an_old_generation_is_retired_by_age() {
        let r = Recent::new(Duration::from_millis(1), 1000);
        r.insert("a".into());
        std::thread::sleep(Duration::from_millis(5));
        r.insert("b".into());
        std::thread::sleep(Duration::from_millis(5));
        r.insert("c".into());
        assert!(!r.contains("a"));
        assert!(r.contains("b") && r.contains("c"));
    }
}
