//! The message and receipt events a socket was sent lately, by key: an event can be routed
//! twice (its live copy by one delivery instance, its EVENTS copy by another), and a device
//! gets it once.
//!
//! A ring of the last 128 key hashes (1 KiB), allocated with the first event, so an idle socket
//! pays one pointer. The two copies of an event are as far apart as EVENTS' write: a few
//! milliseconds, up to persist's EVENTS linger (20 ms) for messages, in which a burst into a
//! busy group can still bring dozens of other events. Should a copy come later than 128
//! events, the device gets the event twice, which clients tolerate (a message frame names its
//! seq, a status frame carries watermarks that only move forward).

use std::hash::{BuildHasher, RandomState};

const KEYS: usize = 128;

#[derive(Default)]
pub struct SeenEvents(Option<Box<Ring>>);

struct Ring {
    hashes: [u64; KEYS],
    next: usize,
    hasher: RandomState,
}

impl SeenEvents {
    /// True the first time `key` is offered (within the last [`KEYS`] keys).
    pub fn first_time(&mut self, key: &[u8]) -> bool {
        let ring = self.0.get_or_insert_with(|| {
            Box::new(Ring {
                hashes: [0; KEYS],
                next: 0,
                hasher: RandomState::new(),
            })
        });
        // 0 marks an empty slot.
        let h = ring.hasher.hash_one(key).max(1);
        if ring.hashes.contains(&h) {
            return false;
        }
        ring.hashes[ring.next] = h;
        ring.next = (ring.next + 1) % KEYS;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_passes_once_while_it_is_among_the_last_ones() {
        let mut seen = SeenEvents::default();
        assert!(seen.first_time(b"a:message.created"));
        assert!(!seen.first_time(b"a:message.created"));
        assert!(seen.first_time(b"a:message.updated"));
        for i in 0..KEYS {
            assert!(seen.first_time(format!("k{i}").as_bytes()));
        }
        // Pushed out of the ring by newer keys: passes again.
        assert!(seen.first_time(b"a:message.created"));
    }
}
