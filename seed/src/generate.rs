//! Messages, their `message.created` events and the members' watermarks, generated one
//! conversation at a time into bounded channels of encoded COPY chunks.
//!
//! Each conversation draws from its own RNG, seeded from (seed, conversation index): the rows
//! do not depend on how conversations are split between generator threads or COPY streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parley_contracts::api::ReplyRef;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::dist::{self, US_PER_SEC};
use crate::pgcopy::Rows;
use crate::plan::{self, Plan};
use crate::text::{self, Vocabulary};

/// Bytes per COPY chunk: large enough to amortise a channel hop and a syscall, small enough
/// that the channels bound memory to a few MiB per stream.
pub const CHUNK_BYTES: usize = 1 << 20;

pub const MESSAGE_COLUMNS: &str =
    "id, conversation_id, seq, sender_id, body, created_at, reply_to, mentions";
pub const EVENT_COLUMNS: &str =
    "conversation_id, seq, command_id, kind, message_id, actor_id, created_at";
pub const WATERMARK_COLUMNS: &str = "conversation_id, user_id, delivered_seq, read_seq, updated_at";

/// Share of messages that reply to a recent one, and of group messages that @-mention someone.
const REPLY_SHARE: f64 = 0.04;
const MENTION_SHARE: f64 = 0.05;
/// Messages per burst (a back-and-forth session) and seconds between them.
const SESSION_MEAN: f64 = 5.0;
const GAP_MEAN_SECS: f64 = 40.0;

/// Where one generator's rows go. Message chunks are spread round-robin over the message
/// streams; `blocking_send` waits when a writer is behind, so memory stays bounded.
pub struct Sinks {
    pub messages: Vec<mpsc::Sender<Rows>>,
    pub events: mpsc::Sender<Rows>,
    pub watermarks: mpsc::Sender<Rows>,
}

struct Out {
    sinks: Sinks,
    next_message: usize,
    messages: Rows,
    events: Rows,
    watermarks: Rows,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    pub messages: u64,
    pub watermarks: u64,
    /// Σ over members of messages from others after their read_seq.
    pub unread: u64,
}

impl std::ops::AddAssign for Generated {
    fn add_assign(&mut self, o: Self) {
        self.messages += o.messages;
        self.watermarks += o.watermarks;
        self.unread += o.unread;
    }
}

#[derive(Debug)]
pub struct Closed;

impl Out {
    fn send(tx: &mpsc::Sender<Rows>, rows: &mut Rows) -> Result<(), Closed> {
        let full = std::mem::replace(rows, Rows::with_capacity(CHUNK_BYTES + 64 * 1024));
        tx.blocking_send(full).map_err(|_| Closed)
    }

    fn flush_full(&mut self) -> Result<(), Closed> {
        if self.messages.buf.len() >= CHUNK_BYTES {
            let i = self.next_message % self.sinks.messages.len();
            self.next_message += 1;
            Self::send(&self.sinks.messages[i], &mut self.messages)?;
        }
        if self.events.buf.len() >= CHUNK_BYTES {
            Self::send(&self.sinks.events, &mut self.events)?;
        }
        if self.watermarks.buf.len() >= CHUNK_BYTES {
            Self::send(&self.sinks.watermarks, &mut self.watermarks)?;
        }
        Ok(())
    }

    fn flush_all(mut self) -> Result<(), Closed> {
        if !self.messages.is_empty() {
            let i = self.next_message % self.sinks.messages.len();
            Self::send(&self.sinks.messages[i], &mut self.messages)?;
        }
        if !self.events.is_empty() {
            Self::send(&self.sinks.events, &mut self.events)?;
        }
        if !self.watermarks.is_empty() {
            Self::send(&self.sinks.watermarks, &mut self.watermarks)?;
        }
        Ok(())
    }
}

/// Generate conversations `part`, `part + parts`, … (those among the first `limit`).
pub fn run(
    plan: &Plan,
    vocab: &Vocabulary,
    part: usize,
    parts: usize,
    limit: usize,
    sinks: Sinks,
    stop: &Arc<AtomicBool>,
) -> Result<Generated, Closed> {
    let mut out = Out {
        sinks,
        next_message: part,
        messages: Rows::with_capacity(CHUNK_BYTES + 64 * 1024),
        events: Rows::with_capacity(CHUNK_BYTES + 64 * 1024),
        watermarks: Rows::with_capacity(CHUNK_BYTES + 64 * 1024),
    };
    let mut total = Generated::default();
    let mut scratch = Scratch::default();
    for i in (part..limit.min(plan.conversations.len())).step_by(parts) {
        if stop.load(Ordering::Relaxed) {
            return Err(Closed);
        }
        total += conversation(plan, vocab, i, &mut out, &mut scratch);
        out.flush_full()?;
    }
    out.flush_all()?;
    Ok(total)
}

/// Buffers reused across conversations.
#[derive(Default)]
struct Scratch {
    times: Vec<i64>,
    senders: Vec<u16>,
    recent: std::collections::VecDeque<(Uuid, Uuid, String)>,
    body: String,
    cumulative: Vec<f64>,
    own_last: Vec<u32>,
}

/// A per-conversation RNG: splitmix64 of (seed, index), so neighbouring indexes get unrelated
/// streams.
fn conversation_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

fn conversation(
    plan: &Plan,
    vocab: &Vocabulary,
    index: usize,
    out: &mut Out,
    s: &mut Scratch,
) -> Generated {
    let conv = &plan.conversations[index];
    let mut rng = conversation_rng(plan.seed, index);
    let n = conv.len as usize;
    let end = plan.clock.end_us() - 1;

    // When: bursts of messages at moments that follow the daily and weekly profile.
    s.times.clear();
    while s.times.len() < n {
        let burst = 1 + dist::exp(&mut rng, SESSION_MEAN) as usize;
        let mut t = plan.clock.moment(&mut rng, conv.start_q);
        for _ in 0..burst.min(n - s.times.len()) {
            s.times.push(t.min(end));
            t += US_PER_SEC + (dist::exp(&mut rng, GAP_MEAN_SECS) * US_PER_SEC as f64) as i64;
        }
    }
    s.times.sort_unstable();

    // Who: members weighted by their activity.
    s.cumulative.clear();
    let mut acc = 0.0;
    for &m in &conv.members {
        acc += plan.users[m as usize].weight.powf(plan::SENDER_EXPONENT);
        s.cumulative.push(acc);
    }
    s.senders.clear();
    s.recent.clear();
    s.own_last.clear();
    s.own_last.resize(conv.members.len(), 0);

    for seq in 1..=n {
        let x = rng.random::<f64>() * acc;
        let who = s
            .cumulative
            .partition_point(|&c| c <= x)
            .min(conv.members.len() - 1);
        let sender = plan.users[conv.members[who] as usize].id;
        let at = s.times[seq - 1];
        let id = plan::uuid_v7(&mut rng, at);

        s.body.clear();
        let mut mention = None;
        if conv.group && rng.random_bool(MENTION_SHARE) {
            let other = conv.members[rng.random_range(0..conv.members.len())];
            s.body.push('@');
            s.body.push_str(&plan.username(other));
            s.body.push(' ');
            mention = Some(plan.users[other as usize].id);
        }
        if rng.random_bool(text::MEDIA_SHARE) {
            vocab.media(&mut rng, at, &mut s.body);
        } else {
            let words = text::Vocabulary::length(&mut rng);
            vocab.text(&mut rng, words, &mut s.body);
        }
        let reply = if !s.recent.is_empty() && rng.random_bool(REPLY_SHARE) {
            let back = (dist::exp(&mut rng, 3.0) as usize).min(s.recent.len() - 1);
            let (rid, rsender, rbody) = &s.recent[s.recent.len() - 1 - back];
            let r = ReplyRef {
                id: *rid,
                sender_id: *rsender,
                preview: parley_contracts::validate::preview(rbody),
            };
            serde_json::to_string(&r).ok()
        } else {
            None
        };

        let m = &mut out.messages;
        m.row(8)
            .uuid(&id)
            .uuid(&conv.id)
            .i64(seq as i64)
            .uuid(&sender)
            .text(&s.body)
            .ts(at);
        match &reply {
            Some(json) => m.jsonb(json),
            None => m.null(),
        };
        match &mention {
            Some(u) => m.uuid_array(std::slice::from_ref(u)),
            None => m.uuid_array(&[]),
        };
        // The command id of a send is the message id (persist's sequencer does the same).
        out.events
            .row(7)
            .uuid(&conv.id)
            .i64(seq as i64)
            .uuid(&id)
            .text("message.created")
            .uuid(&id)
            .uuid(&sender)
            .ts(at);

        s.senders.push(who as u16);
        s.own_last[who] = seq as u32;
        // A ring of the last 32 messages to reply to; its strings are reused.
        let mut slot = if s.recent.len() == 32 {
            s.recent.pop_front().unwrap_or_default()
        } else {
            (id, sender, String::new())
        };
        slot.0 = id;
        slot.1 = sender;
        slot.2.clear();
        slot.2.push_str(&s.body);
        s.recent.push_back(slot);
    }

    // Watermarks: most members are caught up; some lag behind on delivery, more on reading.
    // Nobody's watermark is below their own last message (sending implies having read).
    let mut unread = 0u64;
    for (j, &m) in conv.members.iter().enumerate() {
        let own = s.own_last[j] as usize;
        let delivered = if rng.random_bool(0.92) {
            n
        } else {
            n.saturating_sub(1 + dist::exp(&mut rng, 3.0) as usize)
                .max(own)
        };
        let read = if rng.random_bool(0.7) {
            delivered
        } else {
            delivered
                .saturating_sub(1 + dist::exp(&mut rng, 8.0) as usize)
                .max(own)
        };
        unread += s.senders[read..]
            .iter()
            .filter(|&&w| w as usize != j)
            .count() as u64;
        let updated = if delivered > 0 {
            s.times[delivered - 1]
        } else {
            conv.created_us
        };
        out.watermarks
            .row(5)
            .uuid(&conv.id)
            .uuid(&plan.users[m as usize].id)
            .i64(delivered as i64)
            .i64(read as i64)
            .ts(updated);
    }
    Generated {
        messages: n as u64,
        watermarks: conv.members.len() as u64,
        unread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_rngs_differ_and_repeat() {
        let a: u64 = conversation_rng(1, 0).random();
        let b: u64 = conversation_rng(1, 1).random();
        let c: u64 = conversation_rng(1, 0).random();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }
}
