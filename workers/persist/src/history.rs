//! `svc.history.*`: reads of the message store. Callers (the edge) have already checked that
//! the actor is a member of the conversation.

use std::collections::{HashMap, HashSet};

use parley_contracts::api::{LastMessage, Message, MessagePage};
use parley_contracts::limits::{
    MAX_LAST_SEQS, MAX_PAGE, MAX_SUMMARY_ITEMS, PAGE_BYTES, SYNC_BATCH, json_len,
};
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
/// A page holds at most `limit` messages and [`PAGE_BYTES`] of their JSON (its first message
/// always): one stopped early by bytes says `hasMore` like one stopped by count.
pub async fn page(db: &PgPool, req: svc::HistoryPage) -> Result<MessagePage, ApiError> {
    let limit = req.limit.clamp(1, MAX_PAGE);
    let before = req
        .before
        .map(|b| b.min(i64::MAX as u64) as i64)
        .unwrap_or(i64::MAX);
    // Rows past the byte budget are not even read from storage: a body's raw bytes never
    // exceed its JSON, so rows whose predecessors' bodies already pass the budget cannot be
    // on the page. The first two rows always come, so the page knows whether more follow.
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM (
             SELECT {MESSAGE_COLUMNS}, row_number() OVER w AS n,
                    sum(octet_length(body)) OVER w - octet_length(body) AS bytes_before
             FROM (SELECT {MESSAGE_COLUMNS} FROM messages
                   WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3) m
             WINDOW w AS (ORDER BY seq DESC)) t
         WHERE n <= 2 OR bytes_before <= $4
         ORDER BY seq DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(req.conversation_id)
        .bind(before)
        .bind(limit as i64 + 1)
        .bind(PAGE_BYTES as i64)
        .fetch_all(db)
        .await
        .map_err(db_err)?;
    let messages = within_budget(rows.iter().take(limit).map(store::message));
    // Every row after the page's last one that exists among the first `limit + 1` was read
    // (its predecessors' bodies fit the budget), so a row left over means more follow.
    let has_more = rows.len() > messages.len();
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

/// The longest prefix of `messages` whose JSON fits [`PAGE_BYTES`], and never less than one.
fn within_budget(messages: impl Iterator<Item = Message>) -> Vec<Message> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for m in messages {
        let size = json_len(&m) + 1;
        if !out.is_empty() && bytes + size > PAGE_BYTES {
            break;
        }
        bytes += size;
        out.push(m);
    }
    out
}

/// Everything after `after`, as the current state of the messages the events touched:
/// `messages` created in the range, `updates` to older ones. At most `limit` events, and no
/// more than [`PAGE_BYTES`] of the messages they touch (the first event's always): `last_seq`
/// is the last event covered, `has_more` says whether any follow.
pub async fn range(db: &PgPool, req: svc::HistoryRange) -> Result<RangeReply, ApiError> {
    let limit = req.limit.clamp(1, SYNC_BATCH);
    let after = req.after.min(i64::MAX as u64) as i64;
    let mut conn = db.acquire().await.map_err(db_err)?;
    let rows = sqlx::query(
        "SELECT e.seq, e.message_id, COALESCE(octet_length(m.body), 0)::bigint AS raw
         FROM events e LEFT JOIN messages m ON m.id = e.message_id
         WHERE e.conversation_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3",
    )
    .bind(req.conversation_id)
    .bind(after)
    .bind(limit as i64 + 1)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let events: Vec<(u64, Uuid, usize)> = rows
        .iter()
        .map(|r| {
            (
                r.get::<i64, _>("seq").max(0) as u64,
                r.get::<Uuid, _>("message_id"),
                r.get::<i64, _>("raw").max(0) as usize,
            )
        })
        .collect();
    // Raw body bytes never exceed JSON bytes: messages past the budget by raw size are not
    // loaded at all; the exact cut below works on what was.
    let candidates = covered(&events[..events.len().min(limit)], |_, raw| raw);
    let mut ids: Vec<Uuid> = events[..candidates].iter().map(|e| e.1).collect();
    ids.sort();
    ids.dedup();
    let loaded: HashMap<Uuid, Message> = store::messages_by_ids(&mut conn, &ids)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let n = covered(&events[..candidates], |id, _| {
        loaded.get(&id).map(json_len).unwrap_or(0)
    });
    let included = &events[..n];
    let has_more = events.len() > n;
    let last_seq = included.last().map(|e| e.0).unwrap_or(req.after);
    let wanted: HashSet<Uuid> = included.iter().map(|e| e.1).collect();
    let mut all: Vec<Message> = loaded
        .into_values()
        .filter(|m| wanted.contains(&m.id))
        .collect();
    all.sort_by_key(|m| m.seq);
    let (messages, updates) = all.into_iter().partition(|m| m.seq > req.after);
    Ok(RangeReply {
        messages,
        updates,
        last_seq,
        has_more,
    })
}

/// How many of `events` (seq, message id, raw body bytes) a batch covers when each distinct
/// message counts `size + 1` bytes once and the batch holds at most [`PAGE_BYTES`] (the first
/// event always).
fn covered(events: &[(u64, Uuid, usize)], size: impl Fn(Uuid, usize) -> usize) -> usize {
    let mut seen = HashSet::new();
    let mut bytes = 0;
    for (i, &(_, id, raw)) in events.iter().enumerate() {
        if !seen.insert(id) {
            continue;
        }
        let add = size(id, raw) + 1;
        if i > 0 && bytes + add > PAGE_BYTES {
            return i;
        }
        bytes += add;
    }
    events.len()
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
    // Bounds the reply (`limits::MAX_SUMMARY_ITEMS`); callers ask in chunks.
    if req.items.len() > MAX_SUMMARY_ITEMS {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("at most {MAX_SUMMARY_ITEMS} conversations per request"),
        ));
    }
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
