//! JetStream topology as code: the streams and durable consumers Parley needs, and an
//! idempotent [`apply`] that creates what is missing, updates what drifted and reports it.
//!
//! It is not a runtime library: workers call [`apply_streams`] at start-up and
//! [`consumer`] for their own durable; the `parley-jetstream` binary applies everything.
//! [`auth`] holds who may use which subject (NATS users and permissions).

pub mod auth;

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use parley_contracts::subjects::{self, consumer as cons, stream as st};

/// How many replicas streams get: 1 on a single dev node, 3 in a production cluster.
#[derive(Debug, Clone, Copy)]
pub struct Topology {
    pub replicas: usize,
}

impl Default for Topology {
    fn default() -> Self {
        Self { replicas: 1 }
    }
}

/// Window in which JetStream drops a publish whose `Nats-Msg-Id` it has seen: the bound on how
/// late a client retry (or a worker republish) can arrive and still be deduplicated by the
/// stream; past it, the stores dedupe by id.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

pub fn streams(t: Topology) -> Vec<stream::Config> {
    vec![
        stream::Config {
            name: st::COMMANDS.into(),
            subjects: vec![subjects::COMMANDS_ALL.into()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: t.replicas,
            // Edges group concurrent commands into atomic batches (group commit).
            allow_atomic_publish: true,
            ..Default::default()
        },
        stream::Config {
            name: st::EVENTS.into(),
            subjects: vec![subjects::EVENTS_ALL.into()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: Duration::from_secs(30 * 24 * 3600),
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: t.replicas,
            // Workers publish a batch's events as one atomic batch: one fsync, not one each.
            allow_atomic_publish: true,
            ..Default::default()
        },
        stream::Config {
            name: st::TYPING.into(),
            subjects: vec![subjects::TYPING_ALL.into()],
            storage: stream::StorageType::Memory,
            max_age: Duration::from_secs(5),
            num_replicas: t.replicas,
            ..Default::default()
        },
        stream::Config {
            name: st::PRESENCE.into(),
            subjects: vec![subjects::PRESENCE_ALL.into()],
            // Heartbeats are frequent and worthless after their TTL: no fsync for them. The
            // presence worker's state lives in Redis; this keeps the latest per user for
            // integrators.
            storage: stream::StorageType::Memory,
            max_messages_per_subject: 1,
            max_age: Duration::from_secs(3600),
            num_replicas: t.replicas,
            ..Default::default()
        },
    ]
}

/// How long a delivered message may go unacknowledged before JetStream hands it out again: the
/// time a killed instance's in-flight work waits before another instance (or its replacement)
/// gets it. Short, because a live instance that holds a batch longer reports progress
/// (`AckKind::Progress`, sent by the kit's consume loop every [`PROGRESS_EVERY`]), so only a
/// dead or stalled instance lets it run out.
pub const ACK_WAIT: Duration = Duration::from_secs(2);

/// How often a consume loop reports progress on the messages it holds: a quarter of
/// [`ACK_WAIT`], so three reports may be lost or late before a message is redelivered.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The priority group of a consumer with one active puller (`PriorityPolicy::PinnedClient`).
pub const PINNED_GROUP: &str = "active";

/// How long the pinned puller of such a consumer may stay silent (no pull request) before the
/// server pins a standby instead: how soon a survivor takes over from a killed instance.
/// Pull requests of these consumers expire after a third of it, so a live one renews in time.
pub const PIN_TTL: Duration = Duration::from_secs(2);

/// A durable pull consumer with explicit acks, [`ACK_WAIT`] to ack and 20 deliveries at most.
fn durable(name: &str, filter: &str, max_ack_pending: i64) -> pull::Config {
    pull::Config {
        durable_name: Some(name.into()),
        filter_subject: filter.into(),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_deliver: 20,
        max_ack_pending,
        ..Default::default()
    }
}

/// The durable pull consumers, by worker role: (stream, config).
pub fn consumers() -> Vec<(&'static str, pull::Config)> {
    // Live delivery of old events is pointless: clients sync from the store.
    let live_only = jetstream::consumer::DeliverPolicy::New;
    vec![
        (
            st::COMMANDS,
            // One instance sequences at a time (the server pins it; others stand by and take
            // over within PIN_TTL of its last pull): with several pulling at once, commands of
            // one conversation would be in flight at two instances, and the later one could be
            // sequenced first. Persist's order guard covers a takeover (`persist/src/order.rs`).
            pull::Config {
                priority_policy: jetstream::consumer::PriorityPolicy::PinnedClient,
                priority_groups: vec![PINNED_GROUP.into()],
                priority_timeout: PIN_TTL,
                ..durable(cons::PERSIST, subjects::CMD_MSG_ALL, 4096)
            },
        ),
        (
            st::EVENTS,
            // Every event, not a list of the kinds it routes: with several filter subjects
            // the server finds each next message by intersecting the filters with the
            // stream's subject tree, whose cost grows with the distinct subjects stored
            // (one per conversation and per user). At 10,000 users that was half of
            // nats-server's CPU; one filter covering the stream is a plain sequential read.
            // The few `chat.evt.user.*` events delivery has no use for, and presence changes
            // (routed through `delivery-presence`), are acked unread.
            pull::Config {
                deliver_policy: live_only,
                ..durable(cons::DELIVERY, subjects::EVENTS_ALL, 4096)
            },
        ),
        (
            st::EVENTS,
            // Each change needs its audience from the directory; on a consumer of their own,
            // a burst of them waits behind itself, not in front of messages.
            pull::Config {
                deliver_policy: live_only,
                ..durable(cons::DELIVERY_PRESENCE, subjects::EVT_PRESENCE_ALL, 4096)
            },
        ),
        (
            st::COMMANDS,
            durable(cons::RECEIPTS, subjects::CMD_RECEIPT_ALL, 8192),
        ),
        // Replayable from the start; holds nothing back (EVENTS keeps by age, not interest).
        (
            st::EVENTS,
            durable(cons::INTEGRATOR, subjects::EVENTS_ALL, 1024),
        ),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created(String),
    Updated(String),
    Unchanged(String),
}

#[derive(Debug, thiserror::Error)]
#[error("jetstream {what} {name}: {source}")]
pub struct ApplyError {
    what: &'static str,
    name: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn err(
    what: &'static str,
    name: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> ApplyError {
    ApplyError {
        what,
        name: name.to_string(),
        source: Box::new(e),
    }
}

/// Create or update every stream; report what changed. Safe to run from many processes at once.
pub async fn apply_streams(
    js: &jetstream::Context,
    t: Topology,
) -> Result<Vec<Change>, ApplyError> {
    let mut out = Vec::new();
    for cfg in streams(t) {
        let name = cfg.name.clone();
        match js.get_stream(&name).await {
            Ok(mut s) => {
                let current = s
                    .info()
                    .await
                    .map_err(|e| err("stream info", &name, e))?
                    .config
                    .clone();
                if drifted(&current, &cfg) {
                    js.update_stream(&cfg)
                        .await
                        .map_err(|e| err("update stream", &name, e))?;
                    out.push(Change::Updated(name));
                } else {
                    out.push(Change::Unchanged(name));
                }
            }
            Err(_) => {
                // A concurrent creator may win the race: get_or_create tolerates that.
                js.get_or_create_stream(cfg)
                    .await
                    .map_err(|e| err("create stream", &name, e))?;
                out.push(Change::Created(name));
            }
        }
    }
    Ok(out)
}

/// Whether a stream differs from its definition in what the definition sets. The server
/// reports defaults its own way (no per-subject limit as -1, a zero dedupe window as its
/// 2-minute default): those are not drift, or every binary's start-up check would see some.
fn drifted(current: &stream::Config, wanted: &stream::Config) -> bool {
    let limit = |n: i64| if n <= 0 { -1 } else { n };
    current.subjects != wanted.subjects
        || current.max_age != wanted.max_age
        || (!wanted.duplicate_window.is_zero()
            && current.duplicate_window != wanted.duplicate_window)
        || current.num_replicas != wanted.num_replicas
        || limit(current.max_messages_per_subject) != limit(wanted.max_messages_per_subject)
        || current.allow_atomic_publish != wanted.allow_atomic_publish
}

/// Create or update the durable consumer `name` and return it.
pub async fn consumer(
    js: &jetstream::Context,
    name: &str,
) -> Result<jetstream::consumer::Consumer<pull::Config>, ApplyError> {
    let (stream_name, cfg) = consumers()
        .into_iter()
        .find(|(_, c)| c.durable_name.as_deref() == Some(name))
        .ok_or_else(|| {
            err(
                "consumer",
                name,
                std::io::Error::other("not defined in parley-jetstream"),
            )
        })?;
    let stream = js
        .get_stream(stream_name)
        .await
        .map_err(|e| err("get stream", stream_name, e))?;
    stream
        .create_consumer(cfg)
        .await
        .map_err(|e| err("create consumer", name, e))
}

/// Streams and every consumer.
pub async fn apply(js: &jetstream::Context, t: Topology) -> Result<Vec<Change>, ApplyError> {
    let mut out = apply_streams(js, t).await?;
    for (_, cfg) in consumers() {
        let name = cfg.durable_name.clone().unwrap_or_default();
        consumer(js, &name).await?;
        out.push(Change::Unchanged(format!(
            "consumer {name} (create-or-update)"
        )));
    }
    for (stream_name, name) in RETIRED_CONSUMERS {
        if let Ok(stream) = js.get_stream(*stream_name).await
            && stream.delete_consumer(name).await.is_ok()
        {
            out.push(Change::Updated(format!(
                "consumer {name} (retired, deleted)"
            )));
        }
    }
    Ok(out)
}

/// Durable consumers earlier versions created and nothing reads any more: `apply` deletes them
/// so they hold no state (or, on an interest stream, messages) for nobody.
const RETIRED_CONSUMERS: &[(&str, &str)] = &[
    // receipts followed every message event for last seqs; it now asks persist.
    (st::EVENTS, "receipts-seq"),
];
