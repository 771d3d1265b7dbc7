//! The persist worker: the only writer of messages. It sequences commands from
//! `chat.cmd.msg.>` into contiguous per-conversation seqs, stores them, publishes
//! `chat.evt.msg.<conversation>`, and answers `svc.history.*` from the same store.
//! It does not deliver anything to users and knows nothing of membership.

mod history;
mod order;
mod sequencer;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use parley_contracts::subjects::{consumer, svc as s};
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::consume::ConsumeOptions;
use parley_kit::service::{call, encode};
use parley_kit::{CancellationToken, CommonArgs, args::OpsArgs, ops};
use sqlx::PgPool;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "parley-persist",
    about = "Parley persist worker: sequences and stores messages, serves history"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
    #[command(flatten)]
    pub db: parley_kit::args::DbArgs,
    /// Commands stored per transaction at most.
    #[arg(long, env = "PARLEY_PERSIST_BATCH", default_value_t = 256)]
    pub batch: usize,
    /// Stored batches whose events may wait for EVENTS' acknowledgements at once while later
    /// batches are stored: JetStream's synced writes, not PostgreSQL, set persist's pace
    /// otherwise. With grouped event writes a batch waits up to the linger, so this covers
    /// the batches of a linger.
    #[arg(long, env = "PARLEY_PERSIST_IN_FLIGHT", default_value_t = 64)]
    pub in_flight: usize,
    /// With live copies on, the events of the batches stored within this many milliseconds go
    /// to EVENTS as one group (an atomic batch, one synced write, from 32 events), instead of
    /// one synced write per event competing for the disk with the commands' writes. Devices
    /// get events from the live copies, so only EVENTS' readers and the commands' acks wait.
    /// 0: each batch's events are written at once.
    #[arg(long, env = "PARLEY_PERSIST_EVENTS_LINGER_MS", default_value_t = 20)]
    pub events_linger_ms: u64,
    /// How long after sending an author may edit a message, seconds.
    #[arg(long, env = "PARLEY_EDIT_WINDOW_SECONDS", default_value_t = 15 * 60)]
    pub edit_window_seconds: i64,
    /// How long after sending an author may delete a message for everyone, seconds
    /// (group admins may always delete).
    #[arg(long, env = "PARLEY_DELETE_WINDOW_SECONDS", default_value_t = 2 * 24 * 3600)]
    pub delete_window_seconds: i64,
    /// Core-publish each new event on `chat.live.msg.<conv>` as soon as it commits, so delivery
    /// need not wait for EVENTS' synced write (`false`: delivery reads EVENTS only).
    #[arg(long, env = "PARLEY_LIVE_EVENTS", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub live_events: bool,
    /// History requests handled at once.
    #[arg(long, env = "PARLEY_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
}

pub struct Persist {
    settings: Settings,
    db: PgPool,
    /// The sequencer's connections (see `build`).
    sequencer_db: PgPool,
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    ops: ops::OpsServer,
}

impl Persist {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db =
            parley_kit::db::open(&settings.db, "persist", &sqlx::migrate!("./migrations")).await?;
        // The sequencer's statements are planned once per connection, not per batch: with
        // custom plans PostgreSQL planned the batch statement (six CTEs) on every execution,
        // about a third of its CPU at 1,000 msg/s. They are key lookups and inserts, whose plan
        // does not depend on the values.
        let sequencer_db = parley_kit::db::connect_with(
            &settings.db.database_url,
            "persist",
            2,
            &[("plan_cache_mode", "force_generic_plan")],
        )
        .await?;
        let parley_kit::worker::Base { nats, js, ops } = parley_kit::worker::Base::start(
            &settings.common,
            &settings.ops,
            "persist",
            Some(&db),
            |_| {},
        )
        .await?;
        Ok(Self {
            settings,
            db,
            sequencer_db,
            nats,
            js,
            ops,
        })
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = parley_jetstream::consumer(&self.js, consumer::PERSIST).await?;
        let order = order::Order::new(
            consumer.clone(),
            self.js
                .get_stream(parley_contracts::subjects::stream::COMMANDS)
                .await?,
            self.db.clone(),
        );
        let sequencer = sequencer::Sequencer {
            db: self.sequencer_db.clone(),
            js: self.js.clone(),
            nats: self.nats.clone(),
            edit_window: chrono::Duration::seconds(self.settings.edit_window_seconds),
            delete_window: chrono::Duration::seconds(self.settings.delete_window_seconds),
            live_events: self.settings.live_events,
            events_writer: (self.settings.live_events && self.settings.events_linger_ms > 0).then(
                || {
                    parley_kit::batch::GroupWriter::start(
                        self.nats.clone(),
                        self.js.clone(),
                        std::time::Duration::from_millis(self.settings.events_linger_ms),
                        parley_kit::batch::MAX_BATCH,
                    )
                },
            ),
            order,
        };
        let consuming = parley_kit::consume::run(
            consumer,
            sequencer,
            ConsumeOptions {
                name: "persist",
                max_batch: self.settings.batch,
                in_flight: self.settings.in_flight,
            },
            shutdown.clone(),
        );
        let db = Arc::new(self.db.clone());
        let serving = parley_kit::service::serve(
            self.nats.clone(),
            s::HISTORY_ALL,
            s::HISTORY_QUEUE,
            self.settings.concurrency,
            shutdown.clone(),
            move |subject, payload| {
                let db = db.clone();
                async move { dispatch(&db, &subject, payload).await }
            },
        );
        self.ops.drain_on(&shutdown);
        tracing::info!("persist running");
        let (c, s) = tokio::join!(consuming, serving);
        let _ = self.nats.flush().await;
        self.ops.stop().await;
        self.db.close().await;
        self.sequencer_db.close().await;
        c.and(s)
    }
}

async fn dispatch(db: &PgPool, subject: &str, payload: Bytes) -> Bytes {
    match subject {
        s::HISTORY_PAGE => call(db, &payload, history::page).await,
        s::HISTORY_RANGE => call(db, &payload, history::range).await,
        s::HISTORY_SUMMARY => call(db, &payload, history::summary).await,
        s::HISTORY_REPORT => call(db, &payload, history::report).await,
        s::HISTORY_LAST_SEQS => call(db, &payload, history::last_seqs).await,
        other => encode::<()>(Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no endpoint {other}"),
        ))),
    }
}
