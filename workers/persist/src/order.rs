//! Per-conversation order across crashes and takeovers: a command is sequenced only once every
//! earlier command of its conversation in the COMMANDS stream is stored (or was refused).
//!
//! The guarantee: for two commands of one conversation with stream sequences `a < b`, the seq
//! of `a` is below the seq of `b` — whichever instance holds them, whenever one crashes. The edge
//! acks a command only after its PubAck, so a command a sender sends after seeing the ack of an
//! earlier one is later in the stream, and later in the conversation.
//!
//! How: one instance pulls at a time (the consumer pins it; see `parley_jetstream::PIN_TTL`) and
//! stores its batches one after the other, each sorted by conversation and stream sequence. So
//! as long as it has received every delivery of the consumer — their delivery numbers
//! (`consumer_sequence`) follow one another and none is a redelivery — every earlier command it
//! has not stored yet is one it holds, in order: nothing to check and no I/O (the everyday path).
//! Otherwise — it just started or took over, another instance got deliveries, a command came
//! back after a failure — earlier commands may be in flight elsewhere or waiting to be
//! redelivered. Until the consumer's ack floor passes everything delivered up to then, each
//! conversation of a batch is checked against the stream: every command of it after the ack
//! floor and before a batch command must be stored already or be in the batch. A batch command
//! behind one that is neither waits (the consume loop keeps it and offers it again with the next
//! batch), and so does every later command of its conversation in the batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_nats::jetstream::{self, consumer::PullConsumer, stream::LastRawMessageErrorKind};
use parley_contracts::events::MessageCommand;
use parley_contracts::subjects;
use parley_kit::consume::Delivery;
use sqlx::PgPool;
use uuid::Uuid;

/// Stream lookups per conversation and batch at most; beyond, the rest waits (a conversation
/// with more unsettled commands than this is worked off over several batches). Redelivered
/// commands cost one each; runs of new deliveries one per run.
const MAX_LOOKUPS: usize = 1024;

pub struct Order {
    consumer: PullConsumer,
    commands: jetstream::stream::Stream,
    db: PgPool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The delivery number the next message has if no delivery went elsewhere.
    next: Option<u64>,
    /// While set, batches are checked against the stream, until the ack floor reaches it.
    until: Option<u64>,
    /// While checking: per conversation, the stream sequence of the last command this instance
    /// stored. Commands are stored in stream order, so everything before it is settled.
    settled: HashMap<Uuid, u64>,
}

/// Conversations remembered in [`State::settled`] at most (it is dropped when checks end).
const MAX_SETTLED: usize = 100_000;

/// A batch command's place: its index in the batch and its stream sequence.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub index: usize,
    pub stream_seq: u64,
}

impl Order {
    pub fn new(consumer: PullConsumer, commands: jetstream::stream::Stream, db: PgPool) -> Self {
        Self {
            consumer,
            commands,
            db,
            state: Mutex::new(State::default()),
        }
    }

    /// `conv`'s command at `stream_seq` is stored (while checking, it spares lookups).
    pub fn stored(&self, conv: Uuid, stream_seq: u64) {
        if let Ok(mut s) = self.state.lock()
            && s.until.is_some()
        {
            if s.settled.len() >= MAX_SETTLED {
                s.settled.clear();
            }
            let e = s.settled.entry(conv).or_insert(0);
            *e = (*e).max(stream_seq);
        }
    }

    /// Something of this instance's failed to be stored and will come back: check the next
    /// batches against the stream until it is settled.
    pub fn unsettle(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.next = None;
        }
    }

    /// The indices of `commands` (into `batch`) that must wait for an earlier command of their
    /// conversation. `batch` is where JetStream placed each message of the batch, in order.
    pub async fn held_back(
        &self,
        batch: &[Option<Delivery>],
        commands: &[(usize, Uuid)],
    ) -> HashSet<usize> {
        let Some(gap) = self.note_deliveries(batch) else {
            return HashSet::new();
        };
        let info = match self.consumer.clone().info().await {
            Ok(info) => info.clone(),
            Err(error) => {
                tracing::warn!(%error, "consumer info unavailable; the batch waits");
                return commands.iter().map(|(i, _)| *i).collect();
            }
        };
        let floor = info.ack_floor.stream_sequence;
        {
            let Ok(mut s) = self.state.lock() else {
                return commands.iter().map(|(i, _)| *i).collect();
            };
            // A new gap moves the goal to everything delivered by now; otherwise it stays, so
            // the floor can reach it while new deliveries keep coming.
            let until = match (gap, s.until) {
                (false, Some(until)) => until,
                (_, until) => until.unwrap_or(0).max(info.delivered.stream_sequence),
            };
            if floor >= until {
                tracing::info!(floor, "every earlier delivery settled; order checks end");
                s.until = None;
                s.settled.clear();
                return HashSet::new();
            }
            s.until = Some(until);
        }
        let runs = dense_runs(batch);
        // Each conversation's commands, by stream sequence.
        let mut convs: BTreeMap<Uuid, Vec<Placed>> = BTreeMap::new();
        for (i, conversation) in commands {
            let stream_seq = batch.get(*i).copied().flatten().map_or(0, |d| d.stream_seq);
            convs.entry(*conversation).or_default().push(Placed {
                index: *i,
                stream_seq,
            });
        }
        let mut held = HashSet::new();
        for (conv, mut placed) in convs {
            placed.sort_by_key(|p| p.stream_seq);
            let start = self
                .state
                .lock()
                .ok()
                .and_then(|s| s.settled.get(&conv).copied())
                .unwrap_or(0)
                .max(floor);
            let cut = self.first_unsettled(conv, start, &placed, &runs).await;
            if let Some(cut) = cut {
                held.extend(
                    placed
                        .iter()
                        .filter(|p| p.stream_seq > cut)
                        .map(|p| p.index),
                );
            }
        }
        if !held.is_empty() {
            tracing::info!(
                held = held.len(),
                floor,
                "commands wait for earlier ones of their conversation"
            );
        }
        held
    }

    /// Record the batch's delivery numbers. `None`: nothing to check; `Some(gap)`: the batch
    /// must be checked, and `gap` says whether some delivery went elsewhere (or came back) since
    /// the last batch.
    fn note_deliveries(&self, batch: &[Option<Delivery>]) -> Option<bool> {
        let Ok(mut s) = self.state.lock() else {
            return Some(true);
        };
        let mut gap = false;
        for d in batch {
            match d {
                // Offered again after waiting here: seen before.
                Some(d) if s.next.is_some_and(|n| d.consumer_seq < n) => {}
                Some(d) => {
                    gap |= s.next != Some(d.consumer_seq) || d.delivered > 1;
                    s.next = Some(d.consumer_seq + 1);
                }
                None => {
                    gap = true;
                    s.next = None;
                }
            }
        }
        if gap && s.until.is_none() {
            tracing::info!("deliveries may have gone elsewhere; checking order against the stream");
        }
        (gap || s.until.is_some()).then_some(gap)
    }

    /// The stream sequence of the first command of `conv` after `settled` and before the last
    /// of `placed` that is neither in `placed` nor stored; `None` when there is none.
    async fn first_unsettled(
        &self,
        conv: Uuid,
        settled: u64,
        placed: &[Placed],
        runs: &[(u64, u64)],
    ) -> Option<u64> {
        let last = placed.last().map(|p| p.stream_seq)?;
        let mine: HashSet<u64> = placed.iter().map(|p| p.stream_seq).collect();
        let subject = subjects::cmd_msg(conv);
        let mut from = settled + 1;
        for _ in 0..MAX_LOOKUPS {
            if from > last {
                return None;
            }
            let found = self
                .commands
                .raw_message_builder()
                .sequence(from)
                .next_by_subject(subject.clone())
                .send()
                .await;
            let msg = match found {
                Ok(msg) => msg,
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return None,
                Err(error) => {
                    tracing::warn!(%error, "stream lookup failed; the conversation waits");
                    return Some(from.saturating_sub(1));
                }
            };
            if msg.sequence > last {
                return None;
            }
            from = msg.sequence + 1;
            if mine.contains(&msg.sequence) {
                // Whatever else of the conversation lies in the same dense run is in the batch.
                if let Some(&(_, end)) =
                    runs.iter().find(|(a, b)| (*a..=*b).contains(&msg.sequence))
                {
                    from = end + 1;
                }
                continue;
            }
            // An undecodable command is refused, never stored: nothing to wait for.
            let Ok(cmd) = serde_json::from_slice::<MessageCommand>(&msg.payload) else {
                continue;
            };
            match self.is_stored(cmd.id).await {
                Ok(true) => continue,
                Ok(false) => {
                    tracing::debug!(%conv, unsettled = msg.sequence, "waits for an earlier command");
                    return Some(msg.sequence);
                }
                Err(error) => {
                    tracing::warn!(%error, "store lookup failed; the conversation waits");
                    return Some(msg.sequence);
                }
            }
        }
        Some(from.saturating_sub(1))
    }

    async fn is_stored(&self, command: Uuid) -> sqlx::Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE command_id = $1)")
            .bind(command)
            .fetch_one(&self.db)
            .await
    }
}

/// Stream-sequence ranges of the batch that it holds whole: runs of first deliveries with
/// consecutive delivery numbers. First deliveries follow stream order, so no message of the
/// consumer between two such neighbours went anywhere else.
fn dense_runs(batch: &[Option<Delivery>]) -> Vec<(u64, u64)> {
    runs_of(
        batch
            .iter()
            .flatten()
            .filter(|d| d.delivered == 1)
            .map(|d| (d.consumer_seq, d.stream_seq))
            .collect(),
    )
}

/// Runs of `(delivery number, stream sequence)` pairs with consecutive delivery numbers, as
/// inclusive stream-sequence ranges.
fn runs_of(mut firsts: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    firsts.sort_unstable();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut prev: Option<(u64, u64)> = None;
    for (cs, ss) in firsts {
        match (prev, runs.last_mut()) {
            (Some((pc, ps)), Some(run)) if cs == pc + 1 && ss > ps => run.1 = ss,
            _ => runs.push((ss, ss)),
        }
        prev = Some((cs, ss));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::runs_of;

    #[test]
    fn runs_break_where_a_delivery_went_elsewhere() {
        // Deliveries 7, 8, 9 (stream 20, 22, 25), 11 (stream 30: 10 went elsewhere), 12.
        let runs = runs_of(vec![(11, 30), (7, 20), (9, 25), (8, 22), (12, 31)]);
        assert_eq!(runs, vec![(20, 25), (30, 31)]);
        assert_eq!(runs_of(vec![(3, 9)]), vec![(9, 9)]);
        assert!(runs_of(Vec::new()).is_empty());
    }
}
