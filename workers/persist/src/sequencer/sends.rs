//! The set-based store strategies for plain sends (no reply, no forward, a valid body): a
//! whole batch of them in one autocommitted statement, or the plain conversations of a mixed
//! batch inside its transaction.

use std::collections::HashSet;

use chrono::Utc;
use parley_contracts::api::Message;
use parley_contracts::events::{MessageAction, MessageCommand, MessageEvent, MessageEventKind};
use parley_contracts::limits::MAX_MENTIONS;
use parley_contracts::{SCHEMA_VERSION, validate};
use parley_kit::metrics_names as m;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::single::existing_event;
use super::{Cmd, Done, Sequencer};

impl Sequencer {
    /// The common batch, only plain sends with distinct ids, in one autocommitted statement:
    /// one round trip to PostgreSQL instead of four (begin, dedupe, store, commit), which is
    /// most of a small batch's time on a busy machine. Sends already stored (redeliveries,
    /// client retries) are found again afterwards. `None`: the batch needs a transaction.
    pub(super) async fn store_plain_batch<'b, 'm>(
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
    pub(super) async fn store_sends<'b, 'm>(
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
}

/// A send stored without reading anything first: no reply to look up, no message to forward,
/// a valid body.
pub(super) fn plain_send(cmd: &MessageCommand) -> bool {
    matches!(&cmd.action, MessageAction::Send { reply_to: None, forward_from: None, body, .. } if validate::body(body).is_ok())
}

/// The `message.created` event of a stored send (`msg.seq` already set).
pub(super) fn created(
    cmd: &MessageCommand,
    msg: Message,
    now: chrono::DateTime<Utc>,
) -> MessageEvent {
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
