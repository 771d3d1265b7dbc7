//! The receipts worker: per-member `delivered`/`read` watermarks. It consumes receipt commands
//! (`chat.cmd.receipt.>`), coalesces each batch to one monotonic upsert, and publishes
//! `chat.evt.receipt.<conversation>` for every watermark that moved; it asks persist for a
//! conversation's last seq when a receipt goes past the one it knows (a watermark never points
//! past it), and answers `svc.receipts.*`. It does not check membership (the edge did) and does not apply
//! read-receipt settings (whoever shows a watermark to someone else does).

mod apply;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use parley_contracts::subjects::{consumer, svc as s};
use parley_contracts::svc::{ReceiptsGet, ReceiptsMine, Watermark, WatermarkList};
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::consume::ConsumeOptions;
use parley_kit::service::{call, encode};
use parley_kit::{CancellationToken, CommonArgs, args::OpsArgs, ops};
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
    db: PgPool,
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    ops: ops::OpsServer,
}

impl Receipts {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db =
            parley_kit::db::open(&settings.db, "receipts", &sqlx::migrate!("./migrations")).await?;
        let parley_kit::worker::Base { nats, js, ops } = parley_kit::worker::Base::start(
            &settings.common,
            &settings.ops,
            "receipts",
            Some(&db),
            |_| {},
        )
        .await?;
        Ok(Self {
            settings,
            db,
            nats,
            js,
            ops,
        })
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let receipts = parley_jetstream::consumer(&self.js, consumer::RECEIPTS).await?;
        let applying = parley_kit::consume::run(
            receipts,
            apply::Applier {
                db: self.db.clone(),
                nats: self.nats.clone(),
                js: self.js.clone(),
                last_seqs: apply::LastSeqCache::default(),
                live_events: self.settings.live_events,
            },
            ConsumeOptions {
                name: "receipts",
                max_batch: self.settings.batch,
                in_flight: 1,
            },
            shutdown.clone(),
        );
        let db = Arc::new(self.db.clone());
        let serving = parley_kit::service::serve(
            self.nats.clone(),
            s::RECEIPTS_ALL,
            s::RECEIPTS_QUEUE,
            self.settings.concurrency,
            shutdown.clone(),
            move |subject, payload| {
                let db = db.clone();
                async move { dispatch(&db, &subject, payload).await }
            },
        );
        self.ops.drain_on(&shutdown);
        tracing::info!("receipts running");
        let (a, s) = tokio::join!(applying, serving);
        let _ = self.nats.flush().await;
        self.ops.stop().await;
        self.db.close().await;
        a.and(s)
    }
}

async fn dispatch(db: &PgPool, subject: &str, payload: Bytes) -> Bytes {
    match subject {
        s::RECEIPTS_GET => call(db, &payload, get).await,
        s::RECEIPTS_MINE => call(db, &payload, mine).await,
        other => encode::<()>(Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no endpoint {other}"),
        ))),
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
