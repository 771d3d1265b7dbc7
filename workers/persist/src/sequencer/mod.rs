//! The sequencer: commands from `chat.cmd.msg.>` in batches → one transaction per batch
//! (dedupe by command id · allocate seq · store) → commit → publish events → ack.
//!
//! Exactly-once sequencing comes from the `events.command_id` unique key plus the allocator
//! row living in the same transaction: a redelivered command finds its event and republishes
//! it under the same `Nats-Msg-Id`, and a rolled-back transaction hands its seqs back.
//!
//! Here: the batch (decode, sort, store, publish). The store strategies: `sends.rs` (plain
//! sends, set-based) and `single.rs` (one command at a time); the rules of edits, deletes and
//! reactions: `rules.rs`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use parley_contracts::events::{MessageCommand, MessageEvent};
use parley_contracts::frames::ServerFrame;
use parley_contracts::{ErrorCode, error::ApiError, subjects};
use parley_kit::batch;
use parley_kit::consume::{BatchHandler, DecodeError, Incoming, Item, Outcome, Outcomes, Started};
use parley_kit::metrics_names as m;
use parley_kit::trace;
use sqlx::PgPool;
use uuid::Uuid;

mod rules;
mod sends;
mod single;

use crate::order::Order;

use sends::plain_send;

pub struct Sequencer {
    pub db: PgPool,
    pub js: jetstream::Context,
    pub nats: async_nats::Client,
    pub edit_window: chrono::Duration,
    pub delete_window: chrono::Duration,
    /// Also core-publish each new event on `chat.live.msg.<conv>` (see `subjects::LIVE_MSG_ALL`).
    pub live_events: bool,
    /// Groups the events of the batches of a short while into one EVENTS write (live copies
    /// on); `None`: each batch's events are written at once.
    pub events_writer: Option<batch::GroupWriter>,
    /// Holds back a command while an earlier one of its conversation is unsettled.
    pub order: Order,
}

/// What one command came to.
enum Done {
    /// An event to publish: stored just now (`true`), or found stored again (`false`).
    Event(Box<MessageEvent>, bool),
    /// Refused for a reason of the command itself: tell the actor, never retry.
    Rejected(Uuid, Uuid, ApiError),
}

enum Failure {
    Db(sqlx::Error),
    Rejected(ApiError),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

fn reject(code: ErrorCode, msg: &str) -> Failure {
    Failure::Rejected(ApiError::new(code, msg))
}

/// A command of the batch being stored.
type Cmd<'b, 'm> = &'b Item<'m, MessageCommand>;

impl BatchHandler for Sequencer {
    type Command = MessageCommand;

    fn decode(&self, msg: Incoming<'_>) -> Result<MessageCommand, DecodeError> {
        msg.json()
    }

    /// Store the batch and send its events; what is left is waiting for JetStream to store
    /// them, during which the next batch's transaction already runs. Events still go out in
    /// stream order: they are sent from this one task, batch after batch.
    async fn start(&self, batch: &[Item<'_, MessageCommand>]) -> Started {
        let mut outcomes = Outcomes::of(batch);
        // After a start, a takeover or a failure, a command waits while an earlier one of its
        // conversation is neither stored nor here (see `order.rs`; no I/O otherwise).
        let deliveries: Vec<_> = batch.iter().map(Item::delivery).collect();
        let keyed: Vec<(usize, Uuid)> = batch
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.command.conversation_id))
            .collect();
        let held = self.order.held_back(&deliveries, &keyed).await;
        let mut commands: Vec<Cmd> = Vec::with_capacity(batch.len());
        for (i, item) in batch.iter().enumerate() {
            if held.contains(&i) {
                outcomes.set(item, Outcome::Wait);
            } else {
                commands.push(item);
            }
        }
        // Lock allocator rows in one global order so concurrent instances cannot deadlock;
        // within a conversation, stream order (a redelivery may arrive after later commands).
        commands.sort_by_cached_key(|c| {
            let stream_seq = c.delivery().map_or(0, |d| d.stream_seq);
            (c.command.conversation_id, stream_seq)
        });
        let mut retried = false;

        let storing = std::time::Instant::now();
        let stored = self.store_batch(&commands).await;
        metrics::histogram!(m::DB_QUERY_SECONDS, "worker" => "persist", "query" => "store_batch",
            "outcome" => if stored.is_ok() { "ok" } else { "error" })
        .record(storing.elapsed().as_secs_f64());
        let done = match stored {
            Ok(done) => done,
            Err(error) => {
                tracing::warn!(%error, size = commands.len(), "batch transaction failed; retrying one by one");
                let mut done = Vec::with_capacity(commands.len());
                // A command that fails holds back the rest of its conversation in the batch.
                let mut failed = HashSet::new();
                for cmd in &commands {
                    if failed.contains(&cmd.command.conversation_id) {
                        outcomes.set(cmd, Outcome::Retry(Duration::from_secs(1)));
                        continue;
                    }
                    match self.store_batch(std::slice::from_ref(cmd)).await {
                        Ok(mut d) => done.append(&mut d),
                        Err(error) => {
                            tracing::error!(%error, command = %cmd.command.id, "command not stored; will retry");
                            outcomes.set(cmd, Outcome::Retry(Duration::from_secs(1)));
                            failed.insert(cmd.command.conversation_id);
                        }
                    }
                }
                retried |= !failed.is_empty();
                done
            }
        };

        // The batch's events go out together, with those of the batches stored within the
        // linger when live copies are on: from 32 events as one atomic JetStream batch, one
        // fsync for all instead of one each (a redelivered command's duplicate event makes the
        // server refuse the batch; then they go one by one and JetStream drops just the
        // duplicate).
        let mut events = Vec::with_capacity(done.len());
        for (item, d) in &done {
            if let Done::Event(evt, _) = d
                && let Some(delivery) = item.delivery()
            {
                self.order
                    .stored(evt.message.conversation_id, delivery.stream_seq);
            }
            match d {
                Done::Event(evt, fresh) => match serde_json::to_vec(evt.as_ref()) {
                    Ok(payload) => {
                        let conversation = evt.message.conversation_id;
                        let mut out = batch::Outgoing::new(
                            subjects::evt_msg(conversation),
                            &subjects::event_msg_id(evt.command_id, evt.kind.as_str()),
                            payload.into(),
                        );
                        // The command's trace id follows it into delivery's logs.
                        if let Some(id) = trace::from_headers(item.headers()) {
                            out.headers.insert(trace::HEADER, id.as_str());
                        }
                        // Committed, so it may be seen: the live copy goes out now, the stream's
                        // copy once stored. An event found again was published before.
                        if *fresh && self.live_events {
                            batch::publish_live_copy(
                                &self.nats,
                                subjects::live_msg(conversation),
                                &out,
                            )
                            .await;
                        }
                        events.push(out);
                        outcomes.when_stored(item);
                    }
                    Err(error) => {
                        tracing::error!(%error, "event not encoded; command will be redelivered");
                        outcomes.set(item, Outcome::Retry(Duration::from_secs(1)));
                        retried = true;
                    }
                },
                Done::Rejected(actor, command, err) => {
                    metrics::counter!(m::COMMANDS_REJECTED, "code" => err.code.as_str())
                        .increment(1);
                    self.tell_rejected(*actor, *command, err).await;
                }
            }
        }
        // A command that comes back unstored must not be overtaken by later ones.
        if retried {
            self.order.unsettle();
        }
        let started = std::time::Instant::now();
        let sent = match &self.events_writer {
            Some(writer) if !events.is_empty() => writer.write(events).await,
            _ => batch::send_batch(&self.nats, &self.js, &events).await,
        };
        let timed: batch::Pending = Box::pin(async move {
            let stored = match sent {
                Ok(pending) => pending.await,
                Err(error) => Err(error),
            };
            metrics::histogram!(m::JETSTREAM_PUBLISH_SECONDS)
                .record(started.elapsed().as_secs_f64());
            stored
        });
        Started::after(outcomes, Ok(timed), "message events")
    }
}

impl Sequencer {
    async fn store_batch<'b, 'm>(
        &self,
        commands: &[Cmd<'b, 'm>],
    ) -> sqlx::Result<Vec<(Cmd<'b, 'm>, Done)>> {
        if let Some(done) = self.store_plain_batch(commands).await? {
            return Ok(done);
        }
        let mut tx = self.db.begin().await?;
        let mut done = Vec::with_capacity(commands.len());
        // One query finds the commands already sequenced (redeliveries, client retries).
        let ids: Vec<Uuid> = commands.iter().map(|c| c.command.id).collect();
        let mut seen: HashSet<Uuid> =
            sqlx::query_scalar("SELECT command_id FROM events WHERE command_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        // Conversations whose commands in this batch are all fresh, valid plain sends (each id
        // once) are stored by one statement; the rest go one command at a time. A conversation
        // is wholly on one path, so its seqs follow stream order either way.
        let now = Utc::now();
        let mut ids_in_batch = HashSet::with_capacity(commands.len());
        let mut fast_conv: HashMap<Uuid, bool> = HashMap::new();
        for c in commands {
            let cmd = &c.command;
            let plain = plain_send(cmd) && !seen.contains(&cmd.id) && ids_in_batch.insert(cmd.id);
            let fast = fast_conv.entry(cmd.conversation_id).or_insert(true);
            *fast = *fast && plain;
        }
        let is_fast =
            |c: &MessageCommand| fast_conv.get(&c.conversation_id).copied().unwrap_or(false);
        let fast: Vec<Cmd> = commands
            .iter()
            .copied()
            .filter(|c| is_fast(&c.command))
            .collect();
        if !fast.is_empty() {
            let (stored, known) = self.store_sends(&mut tx, &fast, now).await?;
            if let Some(c) = known.first() {
                // Checked above in this transaction: the store is inconsistent.
                return Err(sqlx::Error::Protocol(format!(
                    "send {} was not stored",
                    c.command.id
                )));
            }
            done.extend(stored);
        }
        // Every rejection is decided before the command writes anything, so no savepoint is
        // needed: a rejected command leaves the transaction (and the seq allocator) untouched.
        for c in commands.iter().copied().filter(|c| !is_fast(&c.command)) {
            let cmd = &c.command;
            let known = !seen.insert(cmd.id);
            match self.store_one(&mut tx, cmd, known).await {
                Ok((evt, fresh)) => {
                    if fresh {
                        metrics::counter!(m::MESSAGES_STORED, "kind" => evt.kind.as_str())
                            .increment(1);
                    } else {
                        metrics::counter!(m::MESSAGES_DEDUPLICATED).increment(1);
                    }
                    done.push((c, Done::Event(Box::new(evt), fresh)));
                }
                Err(Failure::Rejected(e)) => {
                    done.push((c, Done::Rejected(cmd.sender_id, cmd.id, e)));
                }
                Err(Failure::Db(e)) => return Err(e),
            }
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn tell_rejected(&self, actor: Uuid, command: Uuid, err: &ApiError) {
        tracing::info!(%command, code = %err.code, "command rejected");
        let frame = ServerFrame::error(Some(command.to_string()), err.code, err.message.clone());
        if let Err(error) = self
            .nats
            .publish(subjects::user(actor), frame.to_json().into())
            .await
        {
            tracing::warn!(%error, "could not tell the actor about a rejected command");
        }
    }
}
