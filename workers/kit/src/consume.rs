//! The consume loop: durable pull consumer → batches of what is ready → handler → ack/nak/term.
//!
//! Handlers must be idempotent: JetStream redelivers anything not acked within `ack_wait`
//! (a crash, a stall), so every message may be seen more than once. `ack_wait` is short
//! ([`parley_jetstream::ACK_WAIT`]) so that a killed instance's batch comes back within seconds;
//! the loop reports progress on every message it holds longer than
//! [`parley_jetstream::PROGRESS_EVERY`] (one `+WPI` each, only for batches that take that long),
//! so a live instance's slow batch is not handed to another meanwhile.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::PriorityPolicy, consumer::PullConsumer};
use futures::StreamExt;
use parley_jetstream::{PIN_TTL, PINNED_GROUP, PROGRESS_EVERY};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::breaker::backoff;
use crate::metrics_names as m;
use crate::trace::TraceId;

/// What to do with one message after its batch was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ack,
    /// Redeliver after the delay (a transient failure).
    Retry(Duration),
    /// Not yet: it must wait for something else (an earlier message still in flight). The loop
    /// keeps it (reporting progress) and offers it again with the next batch, ahead of what is
    /// new; not a failure, so it never pauses the loop.
    Wait,
    /// Never redeliver (a poison message; it was reported).
    Reject,
}

/// Why a message could not be decoded into a handler's command: it is rejected (never
/// redelivered) and counted under `stage="decode"`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Well-formed but not acceptable (e.g. the subject names another entity than the payload).
    #[error("{0}")]
    Invalid(&'static str),
}

/// A message as a decoder sees it (from a pull consumer or a core subscription).
#[derive(Clone, Copy)]
pub struct Incoming<'m> {
    pub subject: &'m str,
    pub headers: Option<&'m async_nats::HeaderMap>,
    pub payload: &'m [u8],
}

impl<'m> Incoming<'m> {
    pub fn of(msg: &'m async_nats::Message) -> Self {
        Self {
            subject: &msg.subject,
            headers: msg.headers.as_ref(),
            payload: &msg.payload,
        }
    }

    /// The payload as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, DecodeError> {
        Ok(serde_json::from_slice(self.payload)?)
    }
}

/// One decoded message of a batch.
pub struct Item<'m, C> {
    pub command: C,
    msg: &'m jetstream::Message,
    /// Its place in the batch (known to the kit only).
    slot: usize,
}

impl<C> Item<'_, C> {
    pub fn subject(&self) -> &str {
        &self.msg.subject
    }

    pub fn headers(&self) -> Option<&async_nats::HeaderMap> {
        self.msg.headers.as_ref()
    }

    /// Where JetStream placed this message (`None` for a message without that metadata).
    pub fn delivery(&self) -> Option<Delivery> {
        self.msg.info().ok().map(|i| Delivery {
            stream_seq: i.stream_sequence,
            consumer_seq: i.consumer_sequence,
            delivered: u64::try_from(i.delivered).unwrap_or(0),
        })
    }

    /// Whether JetStream delivered this message before (an earlier attempt may have done part
    /// of its work).
    pub fn redelivered(&self) -> bool {
        self.msg.info().map(|i| i.delivered > 1).unwrap_or(false)
    }
}

/// Where JetStream placed a message: its place in the stream, its delivery number on the
/// consumer, and how often it has been delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub stream_seq: u64,
    pub consumer_seq: u64,
    pub delivered: u64,
}

/// The outcome of every item of a batch; each starts as [`Outcome::Ack`].
pub struct Outcomes {
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Now(Outcome),
    /// Acked once the batch's stores succeed; redelivered if they fail.
    WhenStored,
}

impl Outcomes {
    pub fn of<C>(items: &[Item<'_, C>]) -> Self {
        let len = items.iter().map(|i| i.slot + 1).max().unwrap_or(0);
        Self {
            slots: vec![Slot::Now(Outcome::Ack); len],
        }
    }

    pub fn set<C>(&mut self, item: &Item<'_, C>, outcome: Outcome) {
        if let Some(slot) = self.slots.get_mut(item.slot) {
            *slot = Slot::Now(outcome);
        }
    }

    /// `item` is done once the writes the handler returns in [`Started::after`] are stored,
    /// and redelivered if they are not.
    pub fn when_stored<C>(&mut self, item: &Item<'_, C>) {
        if let Some(slot) = self.slots.get_mut(item.slot) {
            *slot = Slot::WhenStored;
        }
    }
}

/// What a handler's first step leaves: the items' outcomes and, if it sent writes, the wait for
/// them to be stored.
pub struct Started {
    outcomes: Outcomes,
    stores: Option<(crate::batch::Pending, &'static str)>,
}

impl Started {
    /// Everything is done: the outcomes stand as they are.
    pub fn done(outcomes: Outcomes) -> Self {
        Self {
            outcomes,
            stores: None,
        }
    }

    /// The items marked [`Outcomes::when_stored`] wait for `sent` (`what` names the writes in
    /// logs): acked once it succeeds, redelivered if it fails.
    pub fn after(
        outcomes: Outcomes,
        sent: Result<crate::batch::Pending, crate::batch::PublishError>,
        what: &'static str,
    ) -> Self {
        let pending: crate::batch::Pending = match sent {
            Ok(pending) => pending,
            Err(error) => Box::pin(std::future::ready(Err(error))),
        };
        Self {
            outcomes,
            stores: Some((pending, what)),
        }
    }

    /// The single finishing future: one outcome per message of the batch, in order.
    fn finishing(self, len: usize, rejected: Vec<usize>) -> Finishing {
        let Self { outcomes, stores } = self;
        let mut slots = outcomes.slots;
        slots.resize(len, Slot::Now(Outcome::Ack));
        for i in rejected {
            slots[i] = Slot::Now(Outcome::Reject);
        }
        let resolve = |slots: Vec<Slot>, stored: bool| -> Vec<Outcome> {
            slots
                .into_iter()
                .map(|s| match s {
                    Slot::Now(o) => o,
                    Slot::WhenStored if stored => Outcome::Ack,
                    Slot::WhenStored => Outcome::Retry(Duration::from_millis(500)),
                })
                .collect()
        };
        match stores {
            None => Box::pin(std::future::ready(resolve(slots, true))),
            Some((pending, what)) => Box::pin(async move {
                let stored = pending.await;
                if let Err(error) = &stored {
                    tracing::warn!(%error, "{what} not stored; their commands will be redelivered");
                }
                resolve(slots, stored.is_ok())
            }),
        }
    }
}

/// A consumer's handler: the kit decodes each message into its `Command` (a decode failure
/// rejects that message) and hands over the batch of items.
pub trait BatchHandler: Send + Sync + 'static {
    type Command: Send + Sync;

    /// Decode one message. Usually `msg.json()`; a handler may also tell by subject or headers.
    fn decode(&self, msg: Incoming<'_>) -> Result<Self::Command, DecodeError>;

    /// Handle a batch up to the point where only waiting is left (its writes sent, their
    /// acknowledgements due) and return the items' outcomes with that wait ([`Started::after`]).
    /// The loop starts the next batch while the wait is pending and acks this one when it ends,
    /// so a handler that does both database work and JetStream publishes overlaps the two
    /// across batches ([`ConsumeOptions::in_flight`] batches may wait at once).
    fn start(&self, batch: &[Item<'_, Self::Command>]) -> impl Future<Output = Started> + Send;
}

/// The rest of a started batch: resolves to one outcome per message, in order.
type Finishing = std::pin::Pin<Box<dyn Future<Output = Vec<Outcome>> + Send + 'static>>;

/// A batch started and not yet acked.
struct InFlight {
    batch: Vec<jetstream::Message>,
    finishing: Finishing,
    started: Instant,
    /// When JetStream last heard of this batch (delivery or progress report).
    progressed: Instant,
    traces: Vec<TraceId>,
}

impl InFlight {
    /// Tell JetStream the batch is still being worked on, if it has not heard so for a while.
    async fn keep_alive(&mut self) {
        if self.progressed.elapsed() >= PROGRESS_EVERY {
            progress(&self.batch).await;
            self.progressed = Instant::now();
        }
    }
}

/// Messages a handler answered [`Outcome::Wait`]: held here, unacked, in delivery order.
struct Waiting {
    msgs: Vec<jetstream::Message>,
    progressed: Instant,
}

impl Waiting {
    async fn keep_alive(&mut self) {
        if !self.msgs.is_empty() && self.progressed.elapsed() >= PROGRESS_EVERY {
            progress(&self.msgs).await;
            self.progressed = Instant::now();
        }
    }

    fn push(&mut self, msg: jetstream::Message) {
        if self.msgs.is_empty() {
            self.progressed = Instant::now();
        }
        self.msgs.push(msg);
    }

    /// Hand everything back to the server (stopping or pausing).
    async fn release(&mut self, delay: Option<Duration>) {
        for msg in self.msgs.drain(..) {
            let _ = msg.ack_with(AckKind::Nak(delay)).await;
        }
    }
}

/// How soon waiting messages are offered again when nothing new arrives.
const REOFFER: Duration = Duration::from_millis(50);

/// One in-progress report per message: its ack wait starts again.
async fn progress(batch: &[jetstream::Message]) {
    for msg in batch {
        let _ = msg.ack_with(AckKind::Progress).await;
    }
}

async fn keep_alive(in_flight: &mut VecDeque<InFlight>) {
    for f in in_flight.iter_mut() {
        f.keep_alive().await;
    }
}

/// A timer for progress reports.
fn progress_ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// How this consumer is pulled: a pinned one (one active instance) in its priority group, with
/// pull requests that expire (and are renewed) well within the pin's TTL, else long pulls.
fn pull_shape(consumer: &PullConsumer) -> (Option<&'static str>, Duration, Duration) {
    if consumer.cached_info().config.priority_policy == PriorityPolicy::PinnedClient {
        let expires = PIN_TTL / 3;
        (Some(PINNED_GROUP), expires, expires / 3)
    } else {
        (None, Duration::from_secs(30), Duration::from_secs(5))
    }
}

#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// The metric label and log name.
    pub name: &'static str,
    pub max_batch: usize,
    /// Started batches that may wait for their writes at once while the next is handled (at
    /// least 1). Their writes were sent in order, so they finish in order and are acked so.
    pub in_flight: usize,
}

/// Run until `shutdown`; the batch in hand is finished and acked before returning.
///
/// A batch whose every message failed (none acked or rejected) means a dependency is down, not
/// bad input: the loop hands back what it had prefetched and pauses pulling with growing
/// backoff, then probes with one message at a time until one succeeds. So an outage of
/// Postgres, Redis or a service costs a message a few delivery attempts (bounded by the
/// consumer's `max_deliver`) per minute rather than one per second.
pub async fn run<H: BatchHandler>(
    mut consumer: PullConsumer,
    handler: H,
    opts: ConsumeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let name = opts.name;
    init_counters(name);
    spawn_lag_exporter(consumer.clone(), name, shutdown.clone());
    let _ = consumer.info().await;
    let (group, expires, heartbeat) = pull_shape(&consumer);
    let mut ticker = progress_ticker();
    let mut waiting = Waiting {
        msgs: Vec::new(),
        progressed: Instant::now(),
    };
    // Consecutive batches in which every message failed.
    let mut failing: u32 = 0;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let batch_size = if failing > 0 { 1 } else { opts.max_batch };
        let pull = consumer
            .stream()
            .max_messages_per_batch(batch_size)
            .heartbeat(heartbeat)
            .expires(expires);
        let pull = match group {
            Some(g) => pull.group(g),
            None => pull,
        };
        let messages = pull.messages().await;
        let mut messages = match messages {
            Ok(s) => s.ready_chunks(batch_size),
            Err(error) => {
                tracing::warn!(consumer = name, %error, "cannot start pulling; retrying");
                metrics::counter!(m::CONSUMER_ERRORS, "consumer" => name, "stage" => "pull")
                    .increment(1);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        // Up to `in_flight` batches wait for their acknowledgements while the next is handled.
        let depth = opts.in_flight.max(1);
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(depth + 1);
        loop {
            let chunk = tokio::select! {
                _ = shutdown.cancelled() => break,
                outcomes = stored(&mut in_flight), if !in_flight.is_empty() => {
                    let Some(done) = in_flight.pop_front() else { continue };
                    if finish(done, outcomes, name, &mut waiting).await {
                        failing = failing.saturating_add(1);
                        break;
                    }
                    if failing > 0 {
                        tracing::info!(consumer = name, "handler succeeds again; pulling full batches");
                        failing = 0;
                        break;
                    }
                    continue;
                }
                _ = ticker.tick(), if !in_flight.is_empty() || !waiting.msgs.is_empty() => {
                    keep_alive(&mut in_flight).await;
                    waiting.keep_alive().await;
                    continue;
                }
                _ = tokio::time::sleep(REOFFER), if !waiting.msgs.is_empty() => Some(Vec::new()),
                chunk = messages.next() => chunk,
            };
            let Some(chunk) = chunk else { break };
            let fresh = chunk.len();
            // What waits goes first: it was delivered before anything in this chunk.
            let mut batch = std::mem::take(&mut waiting.msgs);
            batch.reserve(chunk.len());
            for item in chunk {
                match item {
                    Ok(msg) => batch.push(msg),
                    Err(error) => {
                        // Heartbeat misses and the like: the stream recovers on its own.
                        tracing::debug!(consumer = name, %error, "pull stream error");
                        metrics::counter!(m::CONSUMER_ERRORS, "consumer" => name, "stage" => "pull").increment(1);
                    }
                }
            }
            if batch.is_empty() {
                continue;
            }
            let next = begin(&handler, batch, fresh, name, &mut in_flight, &mut ticker).await;
            in_flight.push_back(next);
            let mut all_failed = false;
            while in_flight.len() > depth {
                all_failed |=
                    settle(&mut in_flight, name, &mut ticker, &mut waiting).await == Some(true);
            }
            if all_failed {
                failing = failing.saturating_add(1);
                break;
            }
            // While failing, batches are single messages handled to the end, one at a time.
            if failing > 0 {
                if settle_all(&mut in_flight, name, &mut ticker, &mut waiting).await {
                    failing = failing.saturating_add(1);
                    break;
                }
                tracing::info!(
                    consumer = name,
                    "handler succeeds again; pulling full batches"
                );
                failing = 0;
                break;
            }
        }
        if settle_all(&mut in_flight, name, &mut ticker, &mut waiting).await && failing == 0 {
            failing = 1;
        }
        // Messages the server already pushed to this pull are redelivered after ack_wait; when
        // stopping or pausing, hand back what is buffered now so another instance gets it.
        let pause = (failing > 0 && !shutdown.is_cancelled())
            .then(|| backoff(failing, Duration::from_millis(500), Duration::from_secs(30)));
        if shutdown.is_cancelled() || pause.is_some() {
            waiting.release(pause).await;
            while let Some(Some(chunk)) = futures::FutureExt::now_or_never(messages.next()) {
                for msg in chunk.into_iter().flatten() {
                    let _ = msg.ack_with(AckKind::Nak(pause)).await;
                }
            }
        }
        drop(messages);
        if let Some(pause) = pause {
            tracing::warn!(
                consumer = name,
                failed_batches = failing,
                pause_ms = pause.as_millis() as u64,
                "every message of the batch failed (a dependency down?); pausing pulls"
            );
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
    tracing::info!(consumer = name, "consume loop stopped");
    Ok(())
}

/// The trace ids a batch carries, each once (at most 32: enough to find a message's batch).
fn batch_traces(batch: &[jetstream::Message]) -> Vec<TraceId> {
    let mut ids: Vec<TraceId> = Vec::new();
    for msg in batch {
        if let Some(id) = crate::trace::from_headers(msg.headers.as_ref())
            && !ids.contains(&id)
            && ids.len() < 32
        {
            ids.push(id);
        }
    }
    ids
}

/// Count the batch in and run the handler's first step, inside the batch's trace span; while it
/// runs, the batch and those in flight keep reporting progress.
async fn begin<H: BatchHandler>(
    handler: &H,
    batch: Vec<jetstream::Message>,
    fresh: usize,
    name: &'static str,
    in_flight: &mut VecDeque<InFlight>,
    ticker: &mut tokio::time::Interval,
) -> InFlight {
    // Messages offered again after waiting were counted when they arrived.
    metrics::counter!(m::CONSUMER_RECEIVED, "consumer" => name).increment(fresh as u64);
    metrics::histogram!(m::CONSUMER_BATCH_SIZE, "consumer" => name).record(batch.len() as f64);
    let redelivered = batch
        .iter()
        .filter(|m| m.info().map(|i| i.delivered > 1).unwrap_or(false))
        .count();
    if redelivered > 0 {
        metrics::counter!(m::CONSUMER_REDELIVERIES, "consumer" => name)
            .increment(redelivered as u64);
    }
    let started = Instant::now();
    let traces = batch_traces(&batch);
    let mut progressed = started;
    let finishing = {
        let first = traced(&traces, decode_and_start(handler, &batch, name));
        tokio::pin!(first);
        loop {
            tokio::select! {
                finishing = &mut first => break finishing,
                _ = ticker.tick() => {
                    if progressed.elapsed() >= PROGRESS_EVERY {
                        progress(&batch).await;
                        progressed = Instant::now();
                    }
                    keep_alive(in_flight).await;
                }
            }
        }
    };
    let finishing = Box::pin(traced_owned(traces.clone(), finishing));
    InFlight {
        batch,
        finishing,
        started,
        progressed,
        traces,
    }
}

/// Decode every message (rejecting what does not decode) and run the handler's first step.
async fn decode_and_start<H: BatchHandler>(
    handler: &H,
    batch: &[jetstream::Message],
    name: &'static str,
) -> Finishing {
    let mut items = Vec::with_capacity(batch.len());
    let mut rejected = Vec::new();
    for (slot, msg) in batch.iter().enumerate() {
        match handler.decode(Incoming::of(msg)) {
            Ok(command) => items.push(Item { command, msg, slot }),
            Err(error) => {
                tracing::error!(consumer = name, %error, subject = %msg.subject, "undecodable message rejected");
                metrics::counter!(m::CONSUMER_ERRORS, "consumer" => name, "stage" => "decode")
                    .increment(1);
                rejected.push(slot);
            }
        }
    }
    let started = if items.is_empty() {
        Started::done(Outcomes { slots: Vec::new() })
    } else {
        handler.start(&items).await
    };
    started.finishing(batch.len(), rejected)
}

/// Run `fut` in the batch's trace: one id makes the batch that command's handling (its requests
/// forward the id); several are all listed in the span, so a search for any one finds the batch.
async fn traced<F: Future>(ids: &[TraceId], fut: F) -> F::Output {
    match ids {
        [one] => crate::trace::scope(one.clone(), fut).await,
        many => {
            let ids: Vec<&str> = many.iter().map(TraceId::as_str).collect();
            fut.instrument(tracing::error_span!("trace", trace_id = %ids.join(",")))
                .await
        }
    }
}

async fn traced_owned<F: Future>(ids: Vec<TraceId>, fut: F) -> F::Output {
    traced(&ids, fut).await
}

/// The outcomes of the oldest batch in flight once its stores end; never resolves without one.
async fn stored(in_flight: &mut VecDeque<InFlight>) -> Vec<Outcome> {
    match in_flight.front_mut() {
        Some(f) => f.finishing.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Wait for the oldest batch in flight, if any, and ack it; `Some(true)` when every message
/// failed. Meanwhile every batch in flight keeps reporting progress.
async fn settle(
    in_flight: &mut VecDeque<InFlight>,
    name: &'static str,
    ticker: &mut tokio::time::Interval,
    waiting: &mut Waiting,
) -> Option<bool> {
    let mut done = in_flight.pop_front()?;
    let outcomes = loop {
        tokio::select! {
            outcomes = done.finishing.as_mut() => break outcomes,
            _ = ticker.tick() => {
                done.keep_alive().await;
                keep_alive(in_flight).await;
                waiting.keep_alive().await;
            }
        }
    };
    Some(finish(done, outcomes, name, waiting).await)
}

/// Settle every batch in flight, oldest first; true when the last of them wholly failed.
async fn settle_all(
    in_flight: &mut VecDeque<InFlight>,
    name: &'static str,
    ticker: &mut tokio::time::Interval,
    waiting: &mut Waiting,
) -> bool {
    let mut last_failed = false;
    while let Some(failed) = settle(in_flight, name, ticker, waiting).await {
        last_failed = failed;
    }
    last_failed
}

async fn finish(
    done: InFlight,
    outcomes: Vec<Outcome>,
    name: &'static str,
    waiting: &mut Waiting,
) -> bool {
    traced(
        &done.traces,
        finish_outcomes(done.batch, done.started, outcomes, name, waiting),
    )
    .await
}

/// Ack each message of a finished batch by its outcome; true when every message failed.
async fn finish_outcomes(
    batch: Vec<jetstream::Message>,
    started: Instant,
    outcomes: Vec<Outcome>,
    name: &'static str,
    waiting: &mut Waiting,
) -> bool {
    metrics::histogram!(m::CONSUMER_BATCH_SECONDS, "consumer" => name)
        .record(started.elapsed().as_secs_f64());
    let mut retried = 0;
    let size = batch.len();
    for (i, msg) in batch.into_iter().enumerate() {
        let outcome = outcomes
            .get(i)
            .copied()
            .unwrap_or(Outcome::Retry(Duration::from_secs(1)));
        let kind = match outcome {
            Outcome::Ack => AckKind::Ack,
            Outcome::Retry(d) => {
                retried += 1;
                AckKind::Nak(Some(d))
            }
            Outcome::Wait => {
                metrics::counter!(m::CONSUMER_WAITED, "consumer" => name).increment(1);
                waiting.push(msg);
                continue;
            }
            Outcome::Reject => AckKind::Term,
        };
        if let Err(error) = msg.ack_with(kind).await {
            tracing::warn!(consumer = name, %error, "ack failed; the message will be redelivered");
            metrics::counter!(m::CONSUMER_ERRORS, "consumer" => name, "stage" => "ack")
                .increment(1);
        } else if outcome == Outcome::Ack {
            metrics::counter!(m::CONSUMER_PROCESSED, "consumer" => name).increment(1);
        } else {
            metrics::counter!(m::CONSUMER_ERRORS, "consumer" => name, "stage" => "handle")
                .increment(1);
        }
    }
    tracing::debug!(consumer = name, size, retried, "batch handled");
    retried == size
}

/// Export this consumer's counters at 0 from the start: a series that appears only with its
/// first event makes `rate()` and error-ratio alerts blind to that event.
fn init_counters(name: &'static str) {
    metrics::counter!(m::CONSUMER_RECEIVED, "consumer" => name).increment(0);
    metrics::counter!(m::CONSUMER_PROCESSED, "consumer" => name).increment(0);
    metrics::counter!(m::CONSUMER_REDELIVERIES, "consumer" => name).increment(0);
    metrics::counter!(m::CONSUMER_WAITED, "consumer" => name).increment(0);
    for stage in ["pull", "decode", "handle", "ack"] {
        metrics::counter!(m::CONSUMER_ERRORS, "consumer" => name, "stage" => stage).increment(0);
    }
}

fn spawn_lag_exporter(mut consumer: PullConsumer, name: &'static str, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    if let Ok(info) = consumer.info().await {
                        metrics::gauge!(m::CONSUMER_LAG, "consumer" => name).set(info.num_pending as f64);
                        metrics::gauge!(m::CONSUMER_ACK_PENDING, "consumer" => name).set(info.num_ack_pending as f64);
                    }
                }
            }
        }
    });
}
