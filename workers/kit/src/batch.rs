//! Atomic batch publishing (JetStream 2.12+, ADR-50): many messages to one stream, stored all
//! or none, acknowledged once. With `sync_interval: always` a single publish costs one fsync;
//! a batch costs one for all its messages (nats-server 2.15 coalesces them), which is what lets
//! the hot paths keep up at thousands of messages per second on one disk.
//!
//! A batch that contains a `Nats-Msg-Id` the stream already has is refused whole; callers fall
//! back to [`publish_each`], where JetStream drops just the duplicates.

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;

/// Messages per atomic batch at most (the server's default limit is 1,000).
pub const MAX_BATCH: usize = 256;

/// One message of a batch; `headers` carries at least its `Nats-Msg-Id`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

impl Outgoing {
    /// A message deduplicated by `msg_id`.
    pub fn new(subject: String, msg_id: &str, payload: Bytes) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        Self {
            subject,
            headers,
            payload,
        }
    }
}

/// Publish `msgs` (at most [`MAX_BATCH`]) as one atomic batch and wait for its commit ack.
/// The stream must allow atomic publish. A single message is published plainly.
pub async fn publish_atomic(
    client: &async_nats::Client,
    js: &jetstream::Context,
    msgs: &[Outgoing],
) -> Result<(), String> {
    let Some((last, rest)) = msgs.split_last() else {
        return Ok(());
    };
    if rest.is_empty() {
        return publish_each(js, msgs).await;
    }
    if msgs.len() > MAX_BATCH {
        return Err(format!(
            "atomic batch of {} exceeds {MAX_BATCH}",
            msgs.len()
        ));
    }
    let batch = uuid::Uuid::now_v7().simple().to_string();
    for (i, m) in rest.iter().enumerate() {
        let mut h = m.headers.clone();
        h.insert("Nats-Batch-Id", batch.as_str());
        h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        // Only the commit is answered; an incomplete or invalid batch fails at the commit.
        client
            .publish_with_headers(m.subject.clone(), h, m.payload.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut h = last.headers.clone();
    h.insert("Nats-Batch-Id", batch.as_str());
    h.insert("Nats-Batch-Sequence", msgs.len().to_string().as_str());
    h.insert("Nats-Batch-Commit", "1");
    js.publish_with_headers(last.subject.clone(), h, last.payload.clone())
        .await
        .map_err(|e| e.to_string())?
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Publish every message on its own (pipelined) and wait for all PubAcks.
pub async fn publish_each(js: &jetstream::Context, msgs: &[Outgoing]) -> Result<(), String> {
    let mut pending = Vec::with_capacity(msgs.len());
    for m in msgs {
        pending.push(
            js.publish_with_headers(m.subject.clone(), m.headers.clone(), m.payload.clone())
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    for ack in pending {
        ack.await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Whether atomic batches are used (`PARLEY_ATOMIC_BATCHES=0` turns them off, for servers
/// without them and for comparison runs).
fn atomic_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("PARLEY_ATOMIC_BATCHES").map_or(true, |v| v != "0"))
}

/// Atomically if possible, else one by one (duplicates, a server without atomic batches).
pub async fn publish_batch(
    client: &async_nats::Client,
    js: &jetstream::Context,
    msgs: &[Outgoing],
) -> Result<(), String> {
    if !atomic_enabled() {
        return publish_each(js, msgs).await;
    }
    for chunk in msgs.chunks(MAX_BATCH) {
        if let Err(error) = publish_atomic(client, js, chunk).await {
            tracing::debug!(%error, size = chunk.len(), "atomic batch refused; publishing one by one");
            publish_each(js, chunk).await?;
        }
    }
    Ok(())
}
