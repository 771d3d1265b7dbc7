//! The receipts worker: per-member `delivered`/`read` watermarks. It consumes receipt commands
//! (`chat.cmd.receipt.>`), coalesces each batch to one monotonic upsert, and publishes
//! `chat.evt.receipt.<conversation>` for every watermark that moved; it asks persist for a
//! conversation's last seq when a receipt goes past the one it knows (a watermark never points
//! past it), and answers `svc.receipts.*`. It does not check membership (the edge did) and does not apply
//! read-receipt settings (whoever shows a watermark to someone else does).

mod apply;

use std::sync::Arc;

use bytes::Bytes;
use parley_contracts::subjects::{consumer, svc as s};
use parley_contracts::svc::{ReceiptsGet, ReceiptsMine, Watermark, WatermarkList};
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::consume::ConsumeOptions;
use parley_kit::service::{Answer, handle};
use parley_kit::{Base, CommonArgs, Tasks, Worker, args::OpsArgs};
use sqlx::{PgPool, Row};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "parley-receipts",
    about = "Parley receipts worker: delivered/read watermarks per member"
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
    /// Receipt commands coalesced per transaction at most.
    #[arg(long, env = "PARLEY_RECEIPTS_BATCH", default_value_t = 512)]
    pub batch: usize,
    /// Requests handled at once.
    #[arg(long, env = "PARLEY_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Core-publish each watermark change on `chat.live.receipt.<conv>` as soon as it commits,
    /// so delivery need not wait for EVENTS' synced write (`false`: delivery reads EVENTS only).
    #[arg(long, env = "PARLEY_LIVE_EVENTS", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub live_events: bool,
}

pub struct Receipts {
    settings: Settings,
}

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

parley_kit::worker_settings!(Settings { common = common, ops = ops, postgres = db, publish = publish });

impl Worker for Receipts {
    const NAME: &'static str = "receipts";
    type Settings = Settings;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATIONS)
    }

    async fn build(_: &Base, settings: Settings) -> anyhow::Result<Self> {
        Ok(Self { settings })
    }

    async fn start(self, base: &Base, tasks: &mut Tasks) -> anyhow::Result<()> {
        let settings = self.settings;
        let db = base.postgres()?;
        let receipts = parley_jetstream::consumer(&base.js, consumer::RECEIPTS).await?;
        tasks.spawn(
            "consume",
            parley_kit::consume::run(
                receipts,
                apply::Applier {
                    db: db.clone(),
                    nats: base.nats.clone(),
                    js: base.js.clone(),
                    last_seqs: apply::LastSeqCache::default(),
                    live_events: settings.live_events,
                },
                ConsumeOptions {
                    name: Self::NAME,
                    max_batch: settings.batch,
                    in_flight: 1,
                },
                tasks.shutdown(),
            ),
        );
        tasks.serve(
            base.nats.clone(),
            (s::RECEIPTS_ALL, s::RECEIPTS_QUEUE),
            settings.concurrency,
            Arc::new(db),
            |db, subject, payload| async move { dispatch(&db, &subject, payload).await },
        );
        Ok(())
    }
}

/// The typed table of `svc.receipts.*`.
async fn dispatch(db: &PgPool, subject: &str, payload: Bytes) -> Answer {
    use parley_contracts::endpoint::{self as e, Endpoint};
    match subject {
        e::ReceiptsGet::SUBJECT => handle::<e::ReceiptsGet, _, _>(db, &payload, get).await,
        e::ReceiptsMine::SUBJECT => handle::<e::ReceiptsMine, _, _>(db, &payload, mine).await,
        other => Answer::unknown(other),
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "database error");
    ApiError::new(
        ErrorCode::Unavailable,
        "storage is unavailable; retry shortly",
    )
}

fn u(v: i64) -> u64 {
    v.max(0) as u64
}

/// Every member's watermarks in one conversation (members without any receipt are absent).
async fn get(
    db: &PgPool,
    req: ReceiptsGet,
) -> Result<parley_contracts::api::ReceiptList, ApiError> {
    let rows = sqlx::query(
        "SELECT user_id, delivered_seq, read_seq FROM watermarks WHERE conversation_id = $1",
    )
    .bind(req.conversation_id)
    .fetch_all(db)
    .await
    .map_err(db_err)?;
    Ok(parley_contracts::api::ReceiptList {
        receipts: rows
            .iter()
            .map(|r| parley_contracts::api::Receipt {
                user_id: r.get("user_id"),
                delivered_seq: u(r.get("delivered_seq")),
                read_seq: u(r.get("read_seq")),
            })
            .collect(),
    })
}

/// Conversations a user asks about at most per request (a conversation list page).
const MAX_MINE: usize = 5000;

async fn mine(db: &PgPool, req: ReceiptsMine) -> Result<WatermarkList, ApiError> {
    if req.conversation_ids.len() > MAX_MINE {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("at most {MAX_MINE} conversations per request"),
        ));
    }
    let rows = sqlx::query(
        "SELECT conversation_id, delivered_seq, read_seq FROM watermarks
         WHERE user_id = $1 AND conversation_id = ANY($2)",
    )
    .bind(req.user_id)
    .bind(&req.conversation_ids)
    .fetch_all(db)
    .await
    .map_err(db_err)?;
    Ok(WatermarkList {
        items: rows
            .iter()
            .map(|r| Watermark {
                conversation_id: r.get("conversation_id"),
                delivered_seq: u(r.get("delivered_seq")),
                read_seq: u(r.get("read_seq")),
            })
            .collect(),
    })
}
