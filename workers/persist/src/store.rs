//! Row mapping and the queries both the sequencer and the history service use.

use chrono::{DateTime, Utc};
use parley_contracts::api::{ForwardRef, Message, Reaction, ReplyRef};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

pub const MESSAGE_COLUMNS: &str = "id, conversation_id, seq, sender_id, body, created_at, edited_at, deleted_at, \
     reply_to, forwarded_from, mentions, reactions";

pub fn message(r: &PgRow) -> Message {
    let json = |col: &str| {
        r.try_get::<Option<serde_json::Value>, _>(col)
            .ok()
            .flatten()
    };
    let deleted = r.get::<Option<DateTime<Utc>>, _>("deleted_at").is_some();
    Message {
        id: r.get("id"),
        seq: r.get::<i64, _>("seq").max(0) as u64,
        conversation_id: r.get("conversation_id"),
        sender_id: r.get("sender_id"),
        body: r.get("body"),
        created_at: r.get("created_at"),
        edited_at: r.get("edited_at"),
        deleted,
        reply_to: json("reply_to").and_then(|v| serde_json::from_value::<ReplyRef>(v).ok()),
        forwarded_from: json("forwarded_from")
            .and_then(|v| serde_json::from_value::<ForwardRef>(v).ok()),
        mentions: r.get("mentions"),
        reactions: json("reactions")
            .and_then(|v| serde_json::from_value::<Vec<Reaction>>(v).ok())
            .unwrap_or_default(),
    }
}

/// Load a message of a conversation, locking it for the rest of the transaction.
pub async fn message_for_update(
    conn: &mut PgConnection,
    conversation: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND conversation_id = $2 FOR UPDATE"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(conversation)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(message))
}

pub async fn message_by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(message))
}

pub async fn messages_by_ids(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ANY($1) ORDER BY seq");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.iter().map(message).collect())
}
