//! Receipt commands → one coalesced, monotonic upsert per batch → `receipt.updated` events.
//!
//! A burst of reads from one member becomes one row write: per (conversation, member) only the
//! highest delivered/read seq of the batch is written, and only if it moves the watermark.
//! A receipt past the conversation's last seq as persist reports it (`svc.history.last_seqs`) is
//! clamped to it, so a client can never push a watermark past the end of a conversation.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use parley_contracts::events::{ReceiptCommand, ReceiptEvent, ReceiptKind};
use parley_contracts::svc::{LastSeqs, LastSeqsReply};
use parley_contracts::{SCHEMA_VERSION, subjects};
use parley_kit::batch;
use parley_kit::consume::{BatchHandler, DecodeError, Incoming, Item, Outcome, Outcomes, Started};
use parley_kit::metrics_names as m;
use sqlx::{PgPool, Row};
use uuid::Uuid;

pub struct Applier {
    pub db: PgPool,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    /// Last seqs persist has told of; a watermark at or below one needs no question.
    pub last_seqs: LastSeqCache,
    /// Also core-publish each event on `chat.live.receipt.<conv>` once committed, so delivery
    /// need not wait for EVENTS' synced write (see `subjects::LIVE_RECEIPT_ALL`).
    pub live_events: bool,
}

/// Conversations' last seqs as persist last reported them. Only ever grows per conversation, so
/// a stale entry can only make the worker ask again, never accept a seq that does not exist.
#[derive(Default)]
pub struct LastSeqCache {
    map: Mutex<HashMap<Uuid, u64>>,
}

/// Conversations remembered at most; past it the cache starts over (a miss costs one request).
const LAST_SEQ_CAPACITY: usize = 200_000;

impl LastSeqCache {
    fn get(&self, conversation: Uuid) -> u64 {
        self.map
            .lock()
            .ok()
            .and_then(|m| m.get(&conversation).copied())
            .unwrap_or(0)
    }

    fn raise(&self, conversation: Uuid, seq: u64) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= LAST_SEQ_CAPACITY && !m.contains_key(&conversation) {
                m.clear();
            }
            let e = m.entry(conversation).or_default();
            *e = (*e).max(seq);
        }
    }
}

/// Highest delivered and read seq asked for one (conversation, member).
#[derive(Default, Clone, Copy)]
struct Marks {
    delivered: u64,
    read: u64,
}

impl BatchHandler for Applier {
    type Command = ReceiptCommand;

    fn decode(&self, msg: Incoming<'_>) -> Result<ReceiptCommand, DecodeError> {
        msg.json()
    }

    /// Store the batch's watermarks and send their events; the next batch starts while
    /// JetStream stores them.
    async fn start(&self, batch: &[Item<'_, ReceiptCommand>]) -> Started {
        let mut outcomes = Outcomes::of(batch);
        // A receipt for seq 0 moves nothing: acked as it is.
        let cmds: Vec<&Item<ReceiptCommand>> = batch.iter().filter(|c| c.command.seq > 0).collect();
        if cmds.is_empty() {
            return Started::done(outcomes);
        }
        // Receipts past the last seq this worker knows of: ask persist, which stored every seq
        // a client can have seen. What is still past it then does not exist and is clamped.
        let mut ahead: Vec<Uuid> = cmds
            .iter()
            .map(|c| &c.command)
            .filter(|c| c.seq > self.last_seqs.get(c.conversation_id))
            .map(|c| c.conversation_id)
            .collect();
        ahead.sort();
        ahead.dedup();
        let asked = ahead.is_empty() || self.ask_last_seqs(ahead).await;

        let mut marks: HashMap<(Uuid, Uuid), Marks> = HashMap::new();
        let mut applied: Vec<&Item<ReceiptCommand>> = Vec::new();
        let mut republish: HashSet<(Uuid, Uuid)> = HashSet::new();
        for item in cmds {
            let c = &item.command;
            let last = self.last_seqs.get(c.conversation_id);
            if c.seq > last && !asked {
                outcomes.set(item, Outcome::Retry(Duration::from_millis(500)));
                continue;
            }
            let seq = c.seq.min(last);
            applied.push(item);
            if seq == 0 {
                continue;
            }
            let key = (c.conversation_id, c.user_id);
            let e = marks.entry(key).or_default();
            e.delivered = e.delivered.max(seq);
            if c.kind == ReceiptKind::Read {
                e.read = e.read.max(seq);
            }
            // A redelivery may mean the event of an earlier attempt was never published.
            if item.redelivered() {
                republish.insert(key);
            }
        }
        if marks.is_empty() {
            return Started::done(outcomes);
        }
        let events = match self.upsert(&marks, &republish).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "receipt batch not stored; retrying");
                for item in applied {
                    outcomes.set(item, Outcome::Retry(Duration::from_millis(500)));
                }
                return Started::done(outcomes);
            }
        };
        for item in applied {
            outcomes.when_stored(item);
        }
        Started::after(outcomes, self.send(&events).await, "receipt events")
    }
}

impl Applier {
    /// Learn the conversations' last seqs from persist; false if it could not be asked.
    async fn ask_last_seqs(&self, conversation_ids: Vec<Uuid>) -> bool {
        let reply: Result<LastSeqsReply, _> = parley_kit::service::request::<
            parley_contracts::endpoint::HistoryLastSeqs,
        >(&self.nats, &LastSeqs { conversation_ids })
        .await;
        match reply {
            Ok(reply) => {
                for item in reply.items {
                    self.last_seqs.raise(item.conversation_id, item.last_seq);
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, "persist's last seqs unavailable; receipts ahead of the known ones retried");
                false
            }
        }
    }

    /// Write the batch's marks; return the watermarks that moved (plus the current state of
    /// redelivered keys).
    async fn upsert(
        &self,
        marks: &HashMap<(Uuid, Uuid), Marks>,
        republish: &HashSet<(Uuid, Uuid)>,
    ) -> sqlx::Result<Vec<ReceiptEvent>> {
        let mut convs = Vec::with_capacity(marks.len());
        let mut users = Vec::with_capacity(marks.len());
        let mut delivered = Vec::with_capacity(marks.len());
        let mut read = Vec::with_capacity(marks.len());
        // A stable order keeps concurrent instances from deadlocking on row locks.
        let mut keys: Vec<_> = marks.iter().collect();
        keys.sort_by_key(|(k, _)| **k);
        for ((c, u), mk) in keys {
            convs.push(*c);
            users.push(*u);
            delivered.push(mk.delivered.min(i64::MAX as u64) as i64);
            read.push(mk.read.min(i64::MAX as u64) as i64);
        }
        let mut tx = self.db.begin().await?;
        let rows = sqlx::query(
            "INSERT INTO watermarks AS w (conversation_id, user_id, delivered_seq, read_seq, updated_at)
             SELECT c, u, d, r, now() FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[]) AS i(c, u, d, r)
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET
                delivered_seq = GREATEST(w.delivered_seq, EXCLUDED.delivered_seq),
                read_seq = GREATEST(w.read_seq, EXCLUDED.read_seq),
                updated_at = now()
             WHERE EXCLUDED.delivered_seq > w.delivered_seq OR EXCLUDED.read_seq > w.read_seq
             RETURNING conversation_id, user_id, delivered_seq, read_seq",
        )
        .bind(&convs)
        .bind(&users)
        .bind(&delivered)
        .bind(&read)
        .fetch_all(&mut *tx)
        .await?;
        let mut out: Vec<ReceiptEvent> = rows.iter().map(event).collect();
        let moved: HashSet<(Uuid, Uuid)> =
            out.iter().map(|e| (e.conversation_id, e.user_id)).collect();
        let again: Vec<&(Uuid, Uuid)> = republish.iter().filter(|k| !moved.contains(k)).collect();
        if !again.is_empty() {
            let c: Vec<Uuid> = again.iter().map(|k| k.0).collect();
            let u: Vec<Uuid> = again.iter().map(|k| k.1).collect();
            let rows = sqlx::query(
                "SELECT w.conversation_id, w.user_id, w.delivered_seq, w.read_seq
                 FROM unnest($1::uuid[], $2::uuid[]) AS i(c, u)
                 JOIN watermarks w ON w.conversation_id = i.c AND w.user_id = i.u",
            )
            .bind(&c)
            .bind(&u)
            .fetch_all(&mut *tx)
            .await?;
            out.extend(rows.iter().map(event));
        }
        tx.commit().await?;
        metrics::counter!(m::RECEIPTS_APPLIED).increment(moved.len() as u64);
        Ok(out)
    }

    /// Send the events (one atomic batch when there are many); the stores are pending.
    async fn send(&self, events: &[ReceiptEvent]) -> Result<batch::Pending, batch::PublishError> {
        let msgs: Vec<batch::Outgoing> = events
            .iter()
            .filter_map(|e| {
                let payload = serde_json::to_vec(e).ok()?;
                let id = subjects::receipt_event_msg_id(
                    e.conversation_id,
                    e.user_id,
                    e.delivered_seq,
                    e.read_seq,
                );
                Some(batch::Outgoing::new(
                    subjects::evt_receipt(e.conversation_id),
                    &id,
                    payload.into(),
                ))
            })
            .collect();
        if self.live_events {
            // Committed, so it may be seen: the live copy now, the stream's copy once stored.
            // At most once; a copy lost here is routed from EVENTS.
            for m in &msgs {
                let Some(conversation) = subjects::trailing_id(&m.subject) else {
                    continue;
                };
                if !batch::publish_live_copy(&self.nats, subjects::live_receipt(conversation), m)
                    .await
                {
                    break;
                }
            }
        }
        batch::send_batch(&self.nats, &self.js, &msgs).await
    }
}

fn event(r: &sqlx::postgres::PgRow) -> ReceiptEvent {
    ReceiptEvent {
        v: SCHEMA_VERSION,
        conversation_id: r.get("conversation_id"),
        user_id: r.get("user_id"),
        delivered_seq: r.get::<i64, _>("delivered_seq").max(0) as u64,
        read_seq: r.get::<i64, _>("read_seq").max(0) as u64,
        at: Utc::now(),
    }
}
