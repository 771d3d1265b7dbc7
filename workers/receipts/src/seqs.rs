//! Follows `chat.evt.msg.>` to keep each conversation's last seq: the bound receipts are
//! checked against. One upsert per batch.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use parley_contracts::events::MessageEvent;
use parley_kit::consume::{BatchHandler, Outcome};
use parley_kit::metrics_names as m;
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

pub struct SeqFollower {
    pub db: PgPool,
    /// Wakes the applier's receipts that wait for these seqs.
    pub seq_moved: std::sync::Arc<tokio::sync::Notify>,
}

/// Only the two fields needed; the message body is not decoded.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeqOnly {
    seq: u64,
    message: ConvOnly,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConvOnly {
    conversation_id: Uuid,
}

// Keep the partial decoder honest: it must read what `MessageEvent` writes.
const _: fn(&MessageEvent) -> (u64, Uuid) = |e| (e.seq, e.message.conversation_id);

impl BatchHandler for SeqFollower {
    async fn handle(&self, batch: &[jetstream::Message]) -> Vec<Outcome> {
        let mut outcomes = vec![Outcome::Ack; batch.len()];
        let mut last: HashMap<Uuid, u64> = HashMap::new();
        for (i, msg) in batch.iter().enumerate() {
            match serde_json::from_slice::<SeqOnly>(&msg.payload) {
                Ok(e) => {
                    let v = last.entry(e.message.conversation_id).or_default();
                    *v = (*v).max(e.seq);
                }
                Err(error) => {
                    tracing::error!(%error, "undecodable message event skipped");
                    metrics::counter!(m::CONSUMER_ERRORS, "consumer" => "receipts-seq", "stage" => "decode").increment(1);
                    outcomes[i] = Outcome::Reject;
                }
            }
        }
        if last.is_empty() {
            return outcomes;
        }
        let mut items: Vec<(Uuid, u64)> = last.into_iter().collect();
        items.sort();
        let convs: Vec<Uuid> = items.iter().map(|(c, _)| *c).collect();
        let seqs: Vec<i64> = items
            .iter()
            .map(|(_, s)| (*s).min(i64::MAX as u64) as i64)
            .collect();
        let r = sqlx::query(
            "INSERT INTO conversations AS c (conversation_id, last_seq)
             SELECT * FROM unnest($1::uuid[], $2::bigint[])
             ON CONFLICT (conversation_id) DO UPDATE SET last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq)
             WHERE EXCLUDED.last_seq > c.last_seq",
        )
        .bind(&convs)
        .bind(&seqs)
        .execute(&self.db)
        .await;
        if let Err(error) = r {
            tracing::warn!(%error, "last seqs not stored; retrying");
            return vec![Outcome::Retry(Duration::from_millis(500)); batch.len()];
        }
        self.seq_moved.notify_waiters();
        outcomes
    }
}
