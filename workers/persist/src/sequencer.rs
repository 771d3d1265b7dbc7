//! The sequencer: commands from `chat.cmd.msg.>` in batches → one transaction per batch
//! (dedupe by command id · allocate seq · store) → commit → publish events → ack.
//!
//! Exactly-once sequencing comes from the `events.command_id` unique key plus the allocator
//! row living in the same transaction: a redelivered command finds its event and republishes
//! it under the same `Nats-Msg-Id`, and a rolled-back transaction hands its seqs back.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use parley_contracts::api::{ForwardRef, Message, Reaction, ReplyRef};
use parley_contracts::events::{MessageAction, MessageCommand, MessageEvent, MessageEventKind};
use parley_contracts::frames::ServerFrame;
use parley_contracts::limits::MAX_MENTIONS;
use parley_contracts::{ErrorCode, SCHEMA_VERSION, error::ApiError, subjects, validate};
use parley_kit::batch;
use parley_kit::consume::{BatchHandler, DecodeError, Incoming, Item, Outcome, Outcomes, Started};
use parley_kit::metrics_names as m;
use parley_kit::trace;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::store;

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
        // Lock allocator rows in one global order so concurrent instances cannot deadlock;
        // the sort is stable, so commands of one conversation keep their stream order.
        let mut commands: Vec<Cmd> = batch.iter().collect();
        commands.sort_by_key(|c| c.command.conversation_id);

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
                for cmd in &commands {
                    match self.store_batch(std::slice::from_ref(cmd)).await {
                        Ok(mut d) => done.append(&mut d),
                        Err(error) => {
                            tracing::error!(%error, command = %cmd.command.id, "command not stored; will retry");
                            outcomes.set(cmd, Outcome::Retry(Duration::from_secs(1)));
                        }
                    }
                }
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
                    }
                },
                Done::Rejected(actor, command, err) => {
                    metrics::counter!(m::COMMANDS_REJECTED, "code" => err.code.as_str())
                        .increment(1);
                    self.tell_rejected(*actor, *command, err).await;
                }
            }
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

    /// The common batch, only plain sends with distinct ids, in one autocommitted statement:
    /// one round trip to PostgreSQL instead of four (begin, dedupe, store, commit), which is
    /// most of a small batch's time on a busy machine. Sends already stored (redeliveries,
    /// client retries) are found again afterwards. `None`: the batch needs a transaction.
    async fn store_plain_batch<'b, 'm>(
        &self,
        commands: &[Cmd<'b, 'm>],
    ) -> sqlx::Result<Option<Vec<(Cmd<'b, 'm>, Done)>>> {
        let mut ids = HashSet::with_capacity(commands.len());
        if !commands
            .iter()
            .all(|c| plain_send(&c.command) && ids.insert(c.command.id))
        {
            return Ok(None);
        }
        let mut conn = self.db.acquire().await?;
        let (stored, known) = self.store_sends(&mut conn, commands, Utc::now()).await?;
        let mut done = Vec::with_capacity(commands.len());
        for c in known {
            let Some(evt) = existing_event(&mut conn, c.command.id).await? else {
                return Err(sqlx::Error::Protocol(format!(
                    "send {} neither stored nor found",
                    c.command.id
                )));
            };
            metrics::counter!(m::MESSAGES_DEDUPLICATED).increment(1);
            done.push((c, Done::Event(Box::new(evt), false)));
        }
        done.extend(stored);
        Ok(Some(done))
    }

    /// Plain sends (no reply, no forward) of whole conversations in one statement: allocate
    /// `n` seqs per conversation, insert the messages and their events. Per-command round trips
    /// were most of persist's time under load. Returns the events of the sends it stored and
    /// the sends whose command was already sequenced (left untouched).
    async fn store_sends<'b, 'm>(
        &self,
        conn: &mut PgConnection,
        cmds: &[Cmd<'b, 'm>],
        now: chrono::DateTime<Utc>,
    ) -> sqlx::Result<(Vec<(Cmd<'b, 'm>, Done)>, Vec<Cmd<'b, 'm>>)> {
        let mut ids = Vec::with_capacity(cmds.len());
        let mut convs = Vec::with_capacity(cmds.len());
        let mut senders = Vec::with_capacity(cmds.len());
        let mut bodies = Vec::with_capacity(cmds.len());
        let mut mentions = Vec::with_capacity(cmds.len());
        let mut messages = Vec::with_capacity(cmds.len());
        for c in cmds {
            let cmd = &c.command;
            let MessageAction::Send {
                body, mentions: m, ..
            } = &cmd.action
            else {
                continue;
            };
            let mut m = m.clone();
            m.sort();
            m.dedup();
            m.truncate(MAX_MENTIONS);
            ids.push(cmd.id);
            convs.push(cmd.conversation_id);
            senders.push(cmd.sender_id);
            bodies.push(body.clone());
            mentions.push(serde_json::to_value(&m).unwrap_or_default());
            messages.push(Message {
                id: cmd.id,
                seq: 0,
                conversation_id: cmd.conversation_id,
                sender_id: cmd.sender_id,
                body: body.clone(),
                created_at: now,
                edited_at: None,
                deleted: false,
                reply_to: None,
                forwarded_from: None,
                mentions: m,
                reactions: Vec::new(),
            });
        }
        let ords: Vec<i32> = (0..ids.len() as i32).collect();
        // `OFFSET 0` keeps the duplicate check a per-row probe of the `command_id` index: as an
        // anti-join the planner picks a sequential scan of `events` while the table has no
        // statistics (a new database), and the cached plan keeps it as the table grows.
        let rows = sqlx::query(
            "WITH input AS (
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::int[])
                    AS t(id, conv, sender, body, mentions, ord)),
             fresh AS (
                SELECT * FROM input i
                WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.command_id = i.id OFFSET 0)),
             counts AS (SELECT conv, count(*)::bigint AS n FROM fresh GROUP BY conv),
             alloc AS (
                INSERT INTO conversations AS c (conversation_id, last_seq)
                SELECT conv, n FROM counts ORDER BY conv
                ON CONFLICT (conversation_id) DO UPDATE SET last_seq = c.last_seq + EXCLUDED.last_seq
                RETURNING conversation_id, last_seq),
             numbered AS (
                SELECT i.*, a.last_seq - k.n + row_number() OVER (PARTITION BY i.conv ORDER BY i.ord) AS seq
                FROM fresh i JOIN alloc a ON a.conversation_id = i.conv JOIN counts k ON k.conv = i.conv),
             m AS (
                INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, mentions)
                SELECT id, conv, seq, sender, body, $7,
                       ARRAY(SELECT jsonb_array_elements_text(mentions)::uuid)
                FROM numbered RETURNING id)
             INSERT INTO events (conversation_id, seq, command_id, kind, message_id, actor_id, created_at)
             SELECT conv, seq, id, 'message.created', id, sender, $7 FROM numbered
             RETURNING command_id, seq",
        )
        .bind(&ids)
        .bind(&convs)
        .bind(&senders)
        .bind(&bodies)
        .bind(&mentions)
        .bind(&ords)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        let seqs: std::collections::HashMap<Uuid, i64> = rows
            .iter()
            .map(|r| (r.get("command_id"), r.get("seq")))
            .collect();
        let mut out = Vec::with_capacity(messages.len());
        let mut known = Vec::new();
        for (c, mut msg) in cmds.iter().copied().zip(messages) {
            let cmd = &c.command;
            let Some(seq) = seqs.get(&cmd.id) else {
                known.push(c);
                continue;
            };
            msg.seq = (*seq).max(0) as u64;
            metrics::counter!(m::MESSAGES_STORED, "kind" => MessageEventKind::Created.as_str())
                .increment(1);
            out.push((c, Done::Event(Box::new(created(cmd, msg, now)), true)));
        }
        Ok((out, known))
    }

    /// Returns the event and whether it is new.
    async fn store_one(
        &self,
        conn: &mut PgConnection,
        cmd: &MessageCommand,
        known: bool,
    ) -> Result<(MessageEvent, bool), Failure> {
        if known && let Some(evt) = existing_event(conn, cmd.id).await? {
            return Ok((evt, false));
        }
        let now = Utc::now();
        let (kind, message, seq) = match &cmd.action {
            MessageAction::Send {
                body,
                reply_to,
                mentions,
                forward_from,
            } => {
                let mut body = body.clone();
                let mut forwarded = None;
                if let Some(f) = forward_from {
                    let src = store::message_by_id(conn, f.message_id).await?;
                    let Some(src) =
                        src.filter(|s| s.conversation_id == f.conversation_id && !s.deleted)
                    else {
                        return Err(reject(
                            ErrorCode::NotFound,
                            "the message to forward does not exist",
                        ));
                    };
                    body = src.body.clone();
                    forwarded = Some(ForwardRef {
                        conversation_id: src.conversation_id,
                        message_id: src.id,
                        sender_id: src.sender_id,
                    });
                }
                validate::body(&body).map_err(Failure::Rejected)?;
                let reply = match reply_to {
                    Some(rid) => {
                        let Some(r) = store::message_by_id(conn, *rid)
                            .await?
                            .filter(|r| r.conversation_id == cmd.conversation_id)
                        else {
                            return Err(reject(
                                ErrorCode::NotFound,
                                "the message replied to does not exist",
                            ));
                        };
                        Some(ReplyRef {
                            id: r.id,
                            sender_id: r.sender_id,
                            preview: validate::preview(&r.body),
                        })
                    }
                    None => None,
                };
                let mut mentions = mentions.clone();
                mentions.sort();
                mentions.dedup();
                mentions.truncate(MAX_MENTIONS);
                let mut msg = Message {
                    id: cmd.id,
                    seq: 0,
                    conversation_id: cmd.conversation_id,
                    sender_id: cmd.sender_id,
                    body,
                    created_at: now,
                    edited_at: None,
                    deleted: false,
                    reply_to: reply,
                    forwarded_from: forwarded,
                    mentions,
                    reactions: Vec::new(),
                };
                // The hot path: allocate the seq, store the message and log the event in one
                // round trip. The statement is atomic, so a failure leaves no gap.
                let seq: Option<i64> = sqlx::query_scalar(
                    "WITH s AS (
                        INSERT INTO conversations (conversation_id, last_seq) VALUES ($2, 1)
                        ON CONFLICT (conversation_id) DO UPDATE SET last_seq = conversations.last_seq + 1
                        RETURNING last_seq),
                     m AS (
                        INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, reply_to, forwarded_from, mentions)
                        SELECT $1, $2, s.last_seq, $3, $4, $5, $6, $7, $8 FROM s
                        ON CONFLICT (id) DO NOTHING RETURNING seq)
                     INSERT INTO events (conversation_id, seq, command_id, kind, message_id, actor_id, created_at)
                     SELECT $2, m.seq, $1, 'message.created', $1, $3, $5 FROM m RETURNING seq",
                )
                .bind(msg.id)
                .bind(msg.conversation_id)
                .bind(msg.sender_id)
                .bind(&msg.body)
                .bind(now)
                .bind(msg.reply_to.as_ref().and_then(|r| serde_json::to_value(r).ok()))
                .bind(msg.forwarded_from.as_ref().and_then(|f| serde_json::to_value(f).ok()))
                .bind(&msg.mentions)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(seq) = seq else {
                    // Message ids are send-command ids, and commands were deduplicated above;
                    // reaching this means the store is inconsistent: fail the batch (nothing
                    // commits, no seq is lost) rather than store a gap.
                    return Err(Failure::Db(sqlx::Error::Protocol(format!(
                        "message {} exists without its event",
                        msg.id
                    ))));
                };
                msg.seq = seq.max(0) as u64;
                return Ok((created(cmd, msg, now), true));
            }
            MessageAction::Edit { message_id, body } => {
                validate::body(body).map_err(Failure::Rejected)?;
                let mut msg = self.target(conn, cmd, *message_id).await?;
                if msg.sender_id != cmd.sender_id {
                    return Err(reject(
                        ErrorCode::Forbidden,
                        "only the author can edit a message",
                    ));
                }
                if now - msg.created_at > self.edit_window {
                    return Err(reject(
                        ErrorCode::EditWindowClosed,
                        "this message can no longer be edited",
                    ));
                }
                let seq = allocate(conn, cmd.conversation_id).await?;
                sqlx::query("UPDATE messages SET body = $2, edited_at = $3 WHERE id = $1")
                    .bind(msg.id)
                    .bind(body)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                msg.body = body.clone();
                msg.edited_at = Some(now);
                (MessageEventKind::Updated, msg, seq)
            }
            MessageAction::Delete {
                message_id,
                as_admin,
            } => {
                let mut msg = self.target(conn, cmd, *message_id).await?;
                let author = msg.sender_id == cmd.sender_id;
                if !author && !as_admin {
                    return Err(reject(
                        ErrorCode::Forbidden,
                        "only the author or a group admin can delete a message",
                    ));
                }
                if author && !as_admin && now - msg.created_at > self.delete_window {
                    return Err(reject(
                        ErrorCode::EditWindowClosed,
                        "this message can no longer be deleted",
                    ));
                }
                let seq = allocate(conn, cmd.conversation_id).await?;
                sqlx::query(
                    "UPDATE messages SET body = '', deleted_at = $2, reactions = '[]', mentions = '{}', reply_to = NULL,
                     forwarded_from = NULL WHERE id = $1",
                )
                .bind(msg.id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                msg.body.clear();
                msg.deleted = true;
                msg.reactions.clear();
                msg.mentions.clear();
                msg.reply_to = None;
                msg.forwarded_from = None;
                (MessageEventKind::Deleted, msg, seq)
            }
            MessageAction::ReactionAdd { message_id, emoji }
            | MessageAction::ReactionRemove { message_id, emoji } => {
                validate::emoji(emoji).map_err(Failure::Rejected)?;
                let add = matches!(cmd.action, MessageAction::ReactionAdd { .. });
                let mut msg = self.target(conn, cmd, *message_id).await?;
                apply_reaction(&mut msg.reactions, emoji, cmd.sender_id, add);
                let seq = allocate(conn, cmd.conversation_id).await?;
                sqlx::query("UPDATE messages SET reactions = $2 WHERE id = $1")
                    .bind(msg.id)
                    .bind(
                        serde_json::to_value(&msg.reactions)
                            .unwrap_or_else(|_| serde_json::json!([])),
                    )
                    .execute(&mut *conn)
                    .await?;
                (MessageEventKind::Updated, msg, seq)
            }
        };
        sqlx::query(
            "INSERT INTO events (conversation_id, seq, command_id, kind, message_id, actor_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(cmd.conversation_id)
        .bind(seq as i64)
        .bind(cmd.id)
        .bind(kind.as_str())
        .bind(message.id)
        .bind(cmd.sender_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let evt = MessageEvent {
            v: SCHEMA_VERSION,
            kind,
            seq,
            command_id: cmd.id,
            actor_id: cmd.sender_id,
            at: now,
            message,
        };
        Ok((evt, true))
    }

    /// The message a command acts on: in the command's conversation, not deleted.
    async fn target(
        &self,
        conn: &mut PgConnection,
        cmd: &MessageCommand,
        id: Uuid,
    ) -> Result<Message, Failure> {
        match store::message_for_update(conn, cmd.conversation_id, id).await? {
            Some(m) if !m.deleted => Ok(m),
            _ => Err(reject(ErrorCode::NotFound, "no such message")),
        }
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

/// Next seq of a conversation (1 for the first command), locking the allocator row.
/// The `message.created` event of a stored send (`msg.seq` already set).
/// A send stored without reading anything first: no reply to look up, no message to forward,
/// a valid body.
fn plain_send(cmd: &MessageCommand) -> bool {
    matches!(&cmd.action, MessageAction::Send { reply_to: None, forward_from: None, body, .. } if validate::body(body).is_ok())
}

fn created(cmd: &MessageCommand, msg: Message, now: chrono::DateTime<Utc>) -> MessageEvent {
    MessageEvent {
        v: SCHEMA_VERSION,
        kind: MessageEventKind::Created,
        seq: msg.seq,
        command_id: cmd.id,
        actor_id: cmd.sender_id,
        at: now,
        message: msg,
    }
}

async fn allocate(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<u64> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (conversation_id, last_seq) VALUES ($1, 1)
         ON CONFLICT (conversation_id) DO UPDATE SET last_seq = conversations.last_seq + 1
         RETURNING last_seq",
    )
    .bind(conversation)
    .fetch_one(&mut *conn)
    .await?;
    Ok(seq.max(0) as u64)
}

/// The event a command already produced, rebuilt with the message's current state.
async fn existing_event(
    conn: &mut PgConnection,
    command: Uuid,
) -> sqlx::Result<Option<MessageEvent>> {
    let Some(row) = sqlx::query(
        "SELECT seq, kind, message_id, actor_id, created_at FROM events WHERE command_id = $1",
    )
    .bind(command)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let Some(message) = store::message_by_id(conn, row.get("message_id")).await? else {
        return Ok(None);
    };
    let kind = match row.get::<String, _>("kind").as_str() {
        "message.created" => MessageEventKind::Created,
        "message.deleted" => MessageEventKind::Deleted,
        _ => MessageEventKind::Updated,
    };
    Ok(Some(MessageEvent {
        v: SCHEMA_VERSION,
        kind,
        seq: row.get::<i64, _>("seq").max(0) as u64,
        command_id: command,
        actor_id: row.get("actor_id"),
        at: row.get("created_at"),
        message,
    }))
}

/// Reactions aggregated per emoji, in first-use order; an emoji nobody uses any more goes away.
pub fn apply_reaction(reactions: &mut Vec<Reaction>, emoji: &str, user: Uuid, add: bool) {
    match reactions.iter_mut().position(|r| r.emoji == emoji) {
        Some(i) => {
            let users = &mut reactions[i].user_ids;
            if add {
                if !users.contains(&user) {
                    users.push(user);
                }
            } else {
                users.retain(|u| *u != user);
                if users.is_empty() {
                    reactions.remove(i);
                }
            }
        }
        None if add => reactions.push(Reaction {
            emoji: emoji.to_string(),
            user_ids: vec![user],
        }),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_aggregate_per_emoji() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut r = Vec::new();
        apply_reaction(&mut r, "👍", a, true);
        apply_reaction(&mut r, "👍", b, true);
        apply_reaction(&mut r, "👍", a, true);
        apply_reaction(&mut r, "❤️", a, true);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].user_ids, vec![a, b]);
        apply_reaction(&mut r, "❤️", a, false);
        apply_reaction(&mut r, "🎉", a, false);
        assert_eq!(r.len(), 1);
    }
}
