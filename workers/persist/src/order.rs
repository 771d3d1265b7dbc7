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
//! behind one that is neither waits (it is redelivered after a short delay), and so does every
//! later command of its conversation in the batch.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer, stream::LastRawMessageErrorKind};
use parley_contracts::events::MessageCommand;
use parley_contracts::subjects;
use sqlx::PgPool;
use uuid::Uuid;

/// Stream lookups per conversation and batch at most; beyond, the rest waits (a conversation
/// with more unsettled commands than this is worked off over several batches).
const MAX_LOOKUPS: usize = 64;

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
}

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

    /// Something of this instance's failed to be stored and will come back: check the next
    /// batches against the stream until it is settled.
    pub fn unsettle(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.next = None;
        }
    }

    /// The batch indices of `commands` that must wait for an earlier command of their
    /// conversation. `batch` is the whole batch as delivered (for the delivery numbers).
    pub async fn held_back(
        &self,
        batch: &[jetstream::Message],
        commands: &[(usize, MessageCommand)],
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
                return HashSet::new();
            }
            s.until = Some(until);
        }
        // Each conversation's commands, by stream sequence.
        let mut convs: BTreeMap<Uuid, Vec<Placed>> = BTreeMap::new();
        for (i, cmd) in commands {
            let stream_seq = batch[*i].info().map(|m| m.stream_sequence).unwrap_or(0);
            convs.entry(cmd.conversation_id).or_default().push(Placed {
                index: *i,
                stream_seq,
            });
        }
        let mut held = HashSet::new();
        for (conv, mut placed) in convs {
            placed.sort_by_key(|p| p.stream_seq);
            let cut = self.first_unsettled(conv, floor, &placed).await;
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
    fn note_deliveries(&self, batch: &[jetstream::Message]) -> Option<bool> {
        let Ok(mut s) = self.state.lock() else {
            return Some(true);
        };
        let mut gap = false;
        for msg in batch {
            match msg.info() {
                Ok(info) => {
                    gap |= s.next != Some(info.consumer_sequence) || info.delivered > 1;
                    s.next = Some(info.consumer_sequence + 1);
                }
                Err(_) => {
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

    /// The stream sequence of the first command of `conv` after `floor` and before the last of
    /// `placed` that is neither in `placed` nor stored; `None` when there is none.
    async fn first_unsettled(&self, conv: Uuid, floor: u64, placed: &[Placed]) -> Option<u64> {
        let last = placed.last().map(|p| p.stream_seq)?;
        let mine: HashSet<u64> = placed.iter().map(|p| p.stream_seq).collect();
        let subject = subjects::cmd_msg(conv);
        let mut from = floor + 1;
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
                continue;
            }
            // An undecodable command is refused, never stored: nothing to wait for.
            let Ok(cmd) = serde_json::from_slice::<MessageCommand>(&msg.payload) else {
                continue;
            };
            match self.stored(cmd.id).await {
                Ok(true) => continue,
                Ok(false) => return Some(msg.sequence),
                Err(error) => {
                    tracing::warn!(%error, "store lookup failed; the conversation waits");
                    return Some(msg.sequence);
                }
            }
        }
        Some(from.saturating_sub(1))
    }

    async fn stored(&self, command: Uuid) -> sqlx::Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE command_id = $1)")
            .bind(command)
            .fetch_one(&self.db)
            .await
    }
}

/// How long a held-back command waits before it is offered again: longer with each delivery, so
/// a long wait spends few of the consumer's deliveries.
pub fn retry_after(batch_msg: &jetstream::Message) -> Duration {
    let delivered = batch_msg.info().map(|i| i.delivered).unwrap_or(1).max(1) as u64;
    Duration::from_millis((200 * delivered).min(1_000))
}
