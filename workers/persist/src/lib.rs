//! The persist worker: the only writer of messages. It sequences commands from
//! `chat.cmd.msg.>` into contiguous per-conversation seqs, stores them, publishes
//! `chat.evt.msg.<conversation>`, and answers `svc.history.*` from the same store.
//! It delivers no events (delivery does) and knows nothing of membership; the one thing it
//! sends a user is the rejection of that user's own command (`error` on `chat.user.<actor>`).

mod history;
mod order;
mod sequencer;
mod store;

use std::sync::Arc;

use bytes::Bytes;
use parley_contracts::subjects::{consumer, svc as s};
use parley_kit::consume::ConsumeOptions;
use parley_kit::service::{Answer, handle};
use parley_kit::{Base, CommonArgs, Tasks, Worker, args::OpsArgs};
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
    #[command(flatten)]
    pub publish: parley_kit::args::PublishArgs,
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
    /// The sequencer's connections (see `build`).
    sequencer_db: PgPool,
}

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

parley_kit::worker_settings!(Settings { common = common, ops = ops, postgres = db, publish = publish });

impl Worker for Persist {
    const NAME: &'static str = "persist";
    type Settings = Settings;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATIONS)
    }

    async fn build(_: &Base, settings: Settings) -> anyhow::Result<Self> {
        // The sequencer's statements are planned once per connection, not per batch: with
        // custom plans PostgreSQL planned the batch statement (six CTEs) on every execution,
        // about a third of its CPU at 1,000 msg/s. They are key lookups and inserts, whose plan
        // does not depend on the values.
        let sequencer_db = parley_kit::db::connect_with(
            &settings.db.database_url,
            Self::NAME,
            2,
            &[("plan_cache_mode", "force_generic_plan")],
        )
        .await?;
        Ok(Self {
            settings,
            sequencer_db,
        })
    }

    async fn start(self, base: &Base, tasks: &mut Tasks) -> anyhow::Result<()> {
        let Self {
            settings,
            sequencer_db,
        } = self;
        let consumer = parley_jetstream::consumer(&base.js, consumer::PERSIST).await?;
        let order = order::Order::new(
            consumer.clone(),
            base.js
                .get_stream(parley_contracts::subjects::stream::COMMANDS)
                .await?,
            base.postgres()?,
        );
        let sequencer = sequencer::Sequencer {
            db: sequencer_db.clone(),
            js: base.js.clone(),
            nats: base.nats.clone(),
            edit_window: chrono::Duration::seconds(settings.edit_window_seconds),
            delete_window: chrono::Duration::seconds(settings.delete_window_seconds),
            live_events: settings.live_events,
            events_writer: (settings.live_events && settings.events_linger_ms > 0).then(|| {
                parley_kit::batch::GroupWriter::start(
                    base.nats.clone(),
                    base.js.clone(),
                    std::time::Duration::from_millis(settings.events_linger_ms),
                    parley_kit::batch::MAX_BATCH,
                )
            }),
            order,
        };
        tasks.close_at_exit(sequencer_db);
        tasks.spawn(
            "consume",
            parley_kit::consume::run(
                consumer,
                sequencer,
                ConsumeOptions {
                    name: Self::NAME,
                    max_batch: settings.batch,
                    in_flight: settings.in_flight,
                },
                tasks.shutdown(),
            ),
        );
        tasks.serve(
            base.nats.clone(),
            (s::HISTORY_ALL, s::HISTORY_QUEUE),
            settings.concurrency,
            Arc::new(base.postgres()?),
            |db, subject, payload| async move { dispatch(&db, &subject, payload).await },
        );
        Ok(())
    }
}

/// The typed table of `svc.history.*`.
async fn dispatch(db: &PgPool, subject: &str, payload: Bytes) -> Answer {
    use parley_contracts::endpoint::{self as e, Endpoint};
    match subject {
        e::HistoryPage::SUBJECT => {
            handle::<e::HistoryPage, _, _>(db, &payload, history::page).await
        }
        e::HistoryRange::SUBJECT => {
            handle::<e::HistoryRange, _, _>(db, &payload, history::range).await
        }
        e::HistorySummary::SUBJECT => {
            handle::<e::HistorySummary, _, _>(db, &payload, history::summary).await
        }
        e::HistoryReport::SUBJECT => {
            handle::<e::HistoryReport, _, _>(db, &payload, history::report).await
        }
        e::HistoryLastSeqs::SUBJECT => {
            handle::<e::HistoryLastSeqs, _, _>(db, &payload, history::last_seqs).await
        }
        other => Answer::unknown(other),
    }
}
