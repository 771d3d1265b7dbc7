//! Atomic batch publishing (JetStream 2.12+, ADR-50): many messages to one stream, stored all
//! or none, acknowledged once. With `sync_interval: always` a single publish costs one fsync;
//! a batch costs one for all its messages (nats-server 2.15 coalesces them), which is what lets
//! the hot paths keep up at thousands of messages per second on one disk.
//!
//! A batch that contains a `Nats-Msg-Id` the stream already has is refused whole; callers fall
//! back to [`publish_each`], where JetStream drops just the duplicates.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;

/// Why messages were not stored. Cloneable, so that every waiter of a group hears it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The client could not send a message (disconnected, buffer full).
    #[error("not sent: {0}")]
    Send(#[source] Arc<async_nats::PublishError>),
    /// JetStream did not acknowledge a message (timeout, refusal, no stream).
    #[error("not stored: {0}")]
    Store(#[source] Arc<jetstream::context::PublishError>),
    /// An atomic batch was empty or larger than [`MAX_BATCH`].
    #[error("an atomic batch must hold 1 to {MAX_BATCH} messages, not {0}")]
    BatchSize(usize),
    /// The task that writes queued messages has stopped (the process is shutting down).
    #[error("the writer stopped")]
    WriterStopped,
}

impl From<async_nats::PublishError> for PublishError {
    fn from(e: async_nats::PublishError) -> Self {
        Self::Send(Arc::new(e))
    }
}

impl From<jetstream::context::PublishError> for PublishError {
    fn from(e: jetstream::context::PublishError) -> Self {
        Self::Store(Arc::new(e))
    }
}

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

/// Core-publish a copy of `msg` (its headers, so its `Nats-Msg-Id`, and payload) on `subject`,
/// for readers that must not wait for the stream's synced write. At most once: a copy lost is
/// made up by the stream's. False when it could not be sent.
pub async fn publish_live_copy(
    client: &async_nats::Client,
    subject: String,
    msg: &Outgoing,
) -> bool {
    match client
        .publish_with_headers(subject, msg.headers.clone(), msg.payload.clone())
        .await
    {
        Ok(()) => true,
        Err(error) => {
            tracing::debug!(%error, subject = %msg.subject, "live copy not sent; the stream carries it");
            false
        }
    }
}

/// Publishes that were sent and whose acks are still to come: await it for the outcome. Sending
/// and waiting are apart so a caller can do its next piece of work while the server syncs.
pub type Pending =
    std::pin::Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'static>>;

/// Send `msgs` (at most [`MAX_BATCH`]) as one atomic batch; the commit's ack is pending.
/// The stream must allow atomic publish.
async fn send_atomic(
    client: &async_nats::Client,
    js: &jetstream::Context,
    msgs: &[Outgoing],
) -> Result<jetstream::context::PublishAckFuture, PublishError> {
    let Some((last, rest)) = msgs.split_last() else {
        return Err(PublishError::BatchSize(0));
    };
    if msgs.len() > MAX_BATCH {
        return Err(PublishError::BatchSize(msgs.len()));
    }
    let batch = uuid::Uuid::now_v7().simple().to_string();
    for (i, m) in rest.iter().enumerate() {
        let mut h = m.headers.clone();
        h.insert("Nats-Batch-Id", batch.as_str());
        h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        // Only the commit is answered; an incomplete or invalid batch fails at the commit.
        client
            .publish_with_headers(m.subject.clone(), h, m.payload.clone())
            .await?;
    }
    let mut h = last.headers.clone();
    h.insert("Nats-Batch-Id", batch.as_str());
    h.insert("Nats-Batch-Sequence", msgs.len().to_string().as_str());
    h.insert("Nats-Batch-Commit", "1");
    Ok(js
        .publish_with_headers(last.subject.clone(), h, last.payload.clone())
        .await?)
}

/// Send every message on its own (pipelined); the PubAcks are pending.
async fn send_each(
    js: &jetstream::Context,
    msgs: &[Outgoing],
) -> Result<Vec<jetstream::context::PublishAckFuture>, PublishError> {
    let mut pending = Vec::with_capacity(msgs.len());
    for m in msgs {
        pending.push(
            js.publish_with_headers(m.subject.clone(), m.headers.clone(), m.payload.clone())
                .await?,
        );
    }
    Ok(pending)
}

async fn acked(pending: Vec<jetstream::context::PublishAckFuture>) -> Result<(), PublishError> {
    for ack in pending {
        ack.await?;
    }
    Ok(())
}

/// Publish every message on its own (pipelined) and wait for all PubAcks.
pub async fn publish_each(js: &jetstream::Context, msgs: &[Outgoing]) -> Result<(), PublishError> {
    acked(send_each(js, msgs).await?).await
}

/// Batches smaller than this go out as pipelined plain publishes (the default of
/// `--atomic-min`).
///
/// The server stages an atomic batch of a file stream in a store of its own (a directory,
/// metadata files and their fsyncs) before it commits it, so a small batch costs more synced
/// writes than its messages published one by one; from a few dozen messages on, one fsync for
/// all of them wins.
pub const ATOMIC_MIN: usize = 32;

/// The process's threshold; `usize::MAX` never batches. Set from [`crate::args::PublishArgs`].
static ATOMIC_FROM: AtomicUsize = AtomicUsize::new(ATOMIC_MIN);

/// Apply a binary's publish options (process-wide: every writer of the process shares them).
pub fn configure(args: &crate::args::PublishArgs) {
    let from = if args.atomic_batches {
        args.atomic_min.max(2)
    } else {
        usize::MAX
    };
    ATOMIC_FROM.store(from, Ordering::Relaxed);
}

fn atomic_min() -> usize {
    ATOMIC_FROM.load(Ordering::Relaxed)
}

/// Atomically when the batch is big enough to gain by it, else one by one (also the fallback
/// for duplicates and servers without atomic batches).
pub async fn publish_batch(
    client: &async_nats::Client,
    js: &jetstream::Context,
    msgs: &[Outgoing],
) -> Result<(), PublishError> {
    send_batch(client, js, msgs).await?.await
}

/// [`publish_batch`] in two steps: everything is sent, in order, when this returns; the
/// returned future waits for the server to store it. What is sent after this is stored after
/// it, except that an atomic chunk the server refuses (a duplicate inside) is republished one
/// by one when the pending future is awaited, behind whatever was sent in between.
pub async fn send_batch(
    client: &async_nats::Client,
    js: &jetstream::Context,
    msgs: &[Outgoing],
) -> Result<Pending, PublishError> {
    enum Sent {
        Each(Vec<jetstream::context::PublishAckFuture>),
        Atomic(jetstream::context::PublishAckFuture, Vec<Outgoing>),
    }
    let mut sent = Vec::new();
    for chunk in msgs.chunks(MAX_BATCH) {
        if chunk.len() < atomic_min() {
            sent.push(Sent::Each(send_each(js, chunk).await?));
        } else {
            match send_atomic(client, js, chunk).await {
                Ok(commit) => sent.push(Sent::Atomic(commit, chunk.to_vec())),
                Err(_) => sent.push(Sent::Each(send_each(js, chunk).await?)),
            }
        }
    }
    let js = js.clone();
    Ok(Box::pin(async move {
        for s in sent {
            match s {
                Sent::Each(pending) => acked(pending).await?,
                Sent::Atomic(commit, chunk) => {
                    if let Err(error) = commit.await {
                        tracing::debug!(%error, size = chunk.len(), "atomic batch refused; publishing one by one");
                        publish_each(&js, &chunk).await?;
                    }
                }
            }
        }
        Ok(())
    }))
}

/// Writes that may wait a little: what is queued within `linger` of the first (or until
/// `target` messages) goes out as one group, in queue order. For a stream whose writes are off
/// the latency-critical path, a group of a few dozen messages is one atomic batch and about one
/// synced write, where the same messages one by one are one fsync each, competing for the disk
/// with the writes that are on that path.
#[derive(Clone)]
pub struct GroupWriter {
    tx: tokio::sync::mpsc::Sender<(Vec<Outgoing>, Done)>,
}

/// Where a queued write hears whether it was stored.
pub type Done = tokio::sync::oneshot::Sender<Result<(), PublishError>>;

/// Send `msgs` as [`send_batch`] does; the returned future waits until they are stored and
/// tells every one of `waiting` the outcome.
pub async fn send_for(
    client: &async_nats::Client,
    js: &jetstream::Context,
    msgs: &[Outgoing],
    waiting: Vec<Done>,
) -> impl Future<Output = ()> + Send + 'static {
    let sent = send_batch(client, js, msgs).await;
    async move {
        let stored = match sent {
            Ok(pending) => pending.await,
            Err(error) => Err(error),
        };
        for done in waiting {
            let _ = done.send(stored.clone());
        }
    }
}

impl GroupWriter {
    /// The writing task ends when every clone is dropped, after storing what was queued.
    pub fn start(
        client: async_nats::Client,
        js: jetstream::Context,
        linger: std::time::Duration,
        target: usize,
    ) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(write_groups(
            client,
            js,
            rx,
            linger,
            target.clamp(1, MAX_BATCH),
        ));
        Self { tx }
    }

    /// Queue `msgs`; the returned future resolves once they are stored (or failed to be).
    pub async fn write(&self, msgs: Vec<Outgoing>) -> Result<Pending, PublishError> {
        let (done, stored) = tokio::sync::oneshot::channel();
        self.tx
            .send((msgs, done))
            .await
            .map_err(|_| PublishError::WriterStopped)?;
        Ok(Box::pin(async move {
            stored.await.unwrap_or(Err(PublishError::WriterStopped))
        }))
    }
}

async fn write_groups(
    client: async_nats::Client,
    js: jetstream::Context,
    mut rx: tokio::sync::mpsc::Receiver<(Vec<Outgoing>, Done)>,
    linger: std::time::Duration,
    target: usize,
) {
    use futures::StreamExt;
    // The group being collected: its messages, who waits for them, when it goes out at latest.
    let mut group: Vec<Outgoing> = Vec::new();
    let mut waiting: Vec<Done> = Vec::new();
    let mut due = tokio::time::Instant::now();
    let mut storing = futures::stream::FuturesOrdered::new();
    let mut open = true;
    while open || !group.is_empty() || !storing.is_empty() {
        let flush = tokio::select! {
            biased;
            Some(()) = storing.next(), if !storing.is_empty() => false,
            next = rx.recv(), if open && group.len() < target => match next {
                Some((msgs, done)) => {
                    if group.is_empty() {
                        due = tokio::time::Instant::now() + linger;
                    }
                    group.extend(msgs);
                    waiting.push(done);
                    group.len() >= target
                }
                None => {
                    open = false;
                    true
                }
            },
            _ = tokio::time::sleep_until(due), if !group.is_empty() => true,
        };
        if flush && !group.is_empty() {
            let msgs = std::mem::take(&mut group);
            storing.push_back(send_for(&client, &js, &msgs, std::mem::take(&mut waiting)).await);
        }
    }
}
