//! What one device has seen of its conversations: seq → id and id → seq, so a conflict
//! (duplication), a repeat (at-least-once redelivery) and a hole (gap) are each visible.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    New,
    /// Same id, same seq, again.
    Again,
    /// One seq naming two ids, or one id under two seqs.
    Conflict,
}

#[derive(Debug, Default)]
pub struct ConvView {
    /// The conversation's last seq when the run started; seqs up to it are history.
    pub base: u64,
    /// Highest seq up to which this device holds everything (its sync cursor).
    pub cursor: u64,
    pub seqs: BTreeMap<u64, Uuid>,
    /// id → (seq, arrived live rather than through sync).
    pub ids: HashMap<Uuid, (u64, bool)>,
}

impl ConvView {
    pub fn new(base: u64) -> Self {
        Self {
            base,
            cursor: base,
            ..Default::default()
        }
    }

    pub fn insert(&mut self, seq: u64, id: Uuid, live: bool) -> Insert {
        if seq <= self.base {
            // History from before the run (an edit or reaction to it, say): not ours to check.
            return Insert::Again;
        }
        match (self.seqs.get(&seq), self.ids.get(&id)) {
            (Some(have), _) if *have != id => return Insert::Conflict,
            (_, Some((have, _))) if *have != seq => return Insert::Conflict,
            (Some(_), Some(_)) => return Insert::Again,
            _ => {}
        }
        self.seqs.insert(seq, id);
        self.ids.insert(id, (seq, live));
        while self.seqs.contains_key(&(self.cursor + 1)) {
            self.cursor += 1;
        }
        Insert::New
    }

    /// Whether seqs after the base are contiguous up to the highest one seen.
    pub fn has_gap(&self) -> bool {
        self.seqs
            .keys()
            .next_back()
            .is_some_and(|&last| last > self.cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_repeats_conflicts_and_gaps() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut v = ConvView::new(10);
        assert_eq!(v.insert(11, a, true), Insert::New);
        assert_eq!(v.insert(11, a, false), Insert::Again);
        assert_eq!(v.insert(11, b, true), Insert::Conflict);
        assert_eq!(v.insert(13, a, true), Insert::Conflict);
        assert_eq!(v.insert(13, c, true), Insert::New);
        assert!(v.has_gap());
        assert_eq!(v.cursor, 11);
        assert_eq!(v.insert(12, b, false), Insert::New);
        assert!(!v.has_gap());
        assert_eq!(v.cursor, 13);
        assert_eq!(v.insert(5, b, true), Insert::Again);
    }
}
