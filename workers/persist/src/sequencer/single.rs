//! The store strategy of one command at a time, inside the batch's transaction: a redelivered
//! command's stored event, a send that reads first (a reply, a forward), and the commands that
//! change a stored message (their rules are in `rules.rs`).

use chrono::Utc;
use parley_contracts::api::{ForwardRef, Message, ReplyRef};
use parley_contracts::events::{MessageAction, MessageCommand, MessageEvent, MessageEventKind};
use parley_contracts::limits::MAX_MENTIONS;
use parley_contracts::{ErrorCode, SCHEMA_VERSION, validate};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::sends::created;
use super::{Failure, Sequencer, reject};
use crate::store;

impl Sequencer {
    /// Returns the event and whether it is new.
    pub(super) async fn store_one(
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
                self.edit(conn, cmd, *message_id, body, now).await?
            }
            MessageAction::Delete {
                message_id,
                as_admin,
            } => self.delete(conn, cmd, *message_id, *as_admin, now).await?,
            MessageAction::ReactionAdd { message_id, emoji }
            | MessageAction::ReactionRemove { message_id, emoji } => {
                self.react(conn, cmd, *message_id, emoji).await?
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
    pub(super) async fn target(
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
}

/// Next seq of a conversation (1 for the first command), locking the allocator row.
pub(super) async fn allocate(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<u64> {
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
pub(super) async fn existing_event(
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
