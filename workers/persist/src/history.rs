//! `svc.history.*`: reads of the message store. Callers (the edge) have already checked that
//! the actor is a member of the conversation.

use parley_contracts::api::{LastMessage, MessagePage};
use parley_contracts::limits::{MAX_LAST_SEQS, MAX_PAGE, SYNC_BATCH};
use parley_contracts::svc::{self, ConversationSummary, RangeReply, SummaryReply};
use parley_contracts::{ErrorCode, error::ApiError, validate};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::store::{self, MESSAGE_COLUMNS};

/// Unread counts stop at this (clients show "999+"): counting is a range scan.
const UNREAD_CAP: i64 = 999;

fn db_err(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "database error");
    ApiError::new(
        ErrorCode::Unavailable,
        "storage is unavailable; retry shortly",
    )
}

/// Newest first, keyset-paginated on seq (no OFFSET: every page costs the same at any depth).
pub async fn page(db: &PgPool, req: svc::HistoryPage) -> Result<MessagePage, ApiError> {
    let limit = req.limit.clamp(1, MAX_PAGE);
    let before = req
        .before
        .map(|b| b.min(i64::MAX as u64) as i64)
        .unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(req.conversation_id)
        .bind(before)
        .bind(limit as i64 + 1)
        .fetch_all(db)
        .await
        .map_err(db_err)?;
    let has_more = rows.len() > limit;
    let messages: Vec<_> = rows.iter().take(limit).map(store::message).collect();
    let next_cursor = if has_more {
        messages.last().map(|m| m.seq)
    } else {
        None
    };
    Ok(MessagePage {
        messages,
        next_cursor,
        has_more,
    })
}

/// Everything after `after`, as the current state of the messages the events touched:
/// `messages` created in the range, `updates` to older ones.
pub async fn range(db: &PgPool, req: svc::HistoryRange) -> Result<RangeReply, ApiError> {
    let limit = req.limit.clamp(1, SYNC_BATCH);
    let after = req.after.min(i64::MAX as u64) as i64;
    let mut conn = db.acquire().await.map_err(db_err)?;
    let events = sqlx::query(
        "SELECT seq, message_id FROM events WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(req.conversation_id)
    .bind(after)
    .bind(limit as i64 + 1)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let has_more = events.len() > limit;
    let events = &events[..events.len().min(limit)];
    let last_seq = events
        .last()
        .map(|r| r.get::<i64, _>("seq").max(0) as u64)
        .unwrap_or(req.after);
    let mut ids: Vec<Uuid> = events.iter().map(|r| r.get("message_id")).collect();
    ids.sort();
    ids.dedup();
    let all = store::messages_by_ids(&mut conn, &ids)
        .await
        .map_err(db_err)?;
    let (messages, updates) = all.into_iter().partition(|m| m.seq > req.after);
    Ok(RangeReply {
        messages,
        updates,
        last_seq,
        has_more,
    })
}

pub async fn last_seqs(db: &PgPool, req: svc::LastSeqs) -> Result<svc::LastSeqsReply, ApiError> {
    if req.conversation_ids.len() > MAX_LAST_SEQS {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("at most {MAX_LAST_SEQS} conversations per request"),
        ));
    }
    let rows = sqlx::query(
        "SELECT i.conv, COALESCE(c.last_seq, 0) AS last_seq
         FROM unnest($1::uuid[]) AS i(conv)
         LEFT JOIN conversations c ON c.conversation_id = i.conv",
    )
    .bind(&req.conversation_ids)
    .fetch_all(db)
    .await
    .map_err(db_err)?;
    Ok(svc::LastSeqsReply {
        items: rows
            .iter()
            .map(|r| svc::ConversationSeq {
                conversation_id: r.get("conv"),
                last_seq: r.get::<i64, _>("last_seq").max(0) as u64,
            })
            .collect(),
    })
}

/// Per conversation: last seq, last message preview, unread count after the given watermark.
pub async fn summary(db: &PgPool, req: svc::HistorySummary) -> Result<SummaryReply, ApiError> {
    let convs: Vec<Uuid> = req.items.iter().map(|i| i.conversation_id).collect();
    let reads: Vec<i64> = req
        .items
        .iter()
        .map(|i| i.read_seq.min(i64::MAX as u64) as i64)
        .collect();
    let rows = sqlx::query(
        "SELECT i.conv, COALESCE(c.last_seq, 0) AS last_seq,
                lm.seq AS lm_seq, lm.sender_id AS lm_sender, left(lm.body, 200) AS lm_body,
                lm.created_at AS lm_at, lm.deleted_at IS NOT NULL AS lm_deleted,
                (SELECT count(*) FROM (SELECT 1 FROM messages m
                    WHERE m.conversation_id = i.conv AND m.seq > i.read_seq AND m.sender_id <> $3
                      AND m.deleted_at IS NULL LIMIT $4) x) AS unread
         FROM unnest($1::uuid[], $2::bigint[]) AS i(conv, read_seq)
         LEFT JOIN conversations c ON c.conversation_id = i.conv
         LEFT JOIN LATERAL (SELECT seq, sender_id, body, created_at, deleted_at FROM messages m
                            WHERE m.conversation_id = i.conv ORDER BY seq DESC LIMIT 1) lm ON true",
    )
    .bind(&convs)
    .bind(&reads)
    .bind(req.user_id)
    .bind(UNREAD_CAP)
    .fetch_all(db)
    .await
    .map_err(db_err)?;
    let items = rows
        .iter()
        .map(|r| {
            let last_message = r.get::<Option<i64>, _>("lm_seq").map(|seq| LastMessage {
                seq: seq.max(0) as u64,
                sender_id: r.get("lm_sender"),
                preview: if r.get::<bool, _>("lm_deleted") {
                    String::new()
                } else {
                    validate::preview(&r.get::<String, _>("lm_body"))
                },
                created_at: r.get("lm_at"),
            });
            ConversationSummary {
                conversation_id: r.get("conv"),
                last_seq: r.get::<i64, _>("last_seq").max(0) as u64,
                last_message,
                unread_count: r.get::<i64, _>("unread").max(0) as u64,
            }
        })
        .collect();
    Ok(SummaryReply { items })
}

/// Store a report of a message of the conversation (the edge checked the reporter is a
/// member). Reporting the same message twice returns the first report.
pub async fn report(
    db: &PgPool,
    req: svc::Report,
) -> Result<parley_contracts::api::ReportCreated, ApiError> {
    let reason = parley_contracts::validate::text(
        "reason",
        &req.reason,
        parley_contracts::limits::REPORT_REASON_MAX,
        true,
    )?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "WITH ins AS (
            INSERT INTO reports (id, conversation_id, message_id, reporter_id, sender_id, body_snapshot, reason)
            SELECT $1, m.conversation_id, m.id, $4, m.sender_id, m.body, $5
            FROM messages m WHERE m.id = $3 AND m.conversation_id = $2
            ON CONFLICT (message_id, reporter_id) DO NOTHING RETURNING id)
         SELECT id FROM ins
         UNION ALL SELECT id FROM reports WHERE message_id = $3 AND reporter_id = $4
         LIMIT 1",
    )
    .bind(Uuid::now_v7())
    .bind(req.conversation_id)
    .bind(req.message_id)
    .bind(req.actor)
    .bind(reason)
    .fetch_optional(db)
    .await
    .map_err(db_err)?;
    id.map(|id| parley_contracts::api::ReportCreated { id })
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such message"))
}
