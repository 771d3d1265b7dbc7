//! The presence worker: who is online. Edges core-publish each connection's lifecycle and the
//! user's chosen status on `chat.presence.<userId>`; this worker keeps the state in Redis
//! (connections expire without heartbeats, so a crashed edge's users go offline by themselves),
//! records last seen, publishes `presence.changed` on `chat.evt.presence.<userId>` when what
//! others see changes, and answers `svc.presence.get`.
//!
//! It does not decide who may see whom (privacy and blocks are applied by its callers and by
//! delivery) and it sends nothing to devices. Instances share the command queue group and all
//! sweep; the Lua script in `apply.lua` makes each transition reported exactly once.

mod commands;
mod emit;
mod query;
mod store;
mod sweep;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use parley_contracts::subjects::svc as s;
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::service::{call, encode};
use parley_kit::{CancellationToken, CommonArgs, args::OpsArgs, ops};

pub use query::MAX_IDS;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "parley-presence",
    about = "Parley presence worker: online status, last seen, presence transitions"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
    /// Redis URL (presence state).
    #[arg(
        long,
        env = "PARLEY_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Prefix for every Redis key this process writes.
    #[arg(long, env = "PARLEY_REDIS_PREFIX", default_value = "parley:")]
    pub redis_prefix: String,
    /// Milliseconds between sweeps for expired connections; a crashed edge's users go offline
    /// within their TTL plus this.
    #[arg(long, env = "PARLEY_PRESENCE_SWEEP_MS", default_value_t = 1000)]
    pub presence_sweep_ms: u64,
    /// Users recomputed per sweep batch at most.
    #[arg(long, env = "PARLEY_PRESENCE_SWEEP_BATCH", default_value_t = 500)]
    pub presence_sweep_batch: usize,
    /// Commands, sweeps and requests handled at once (each).
    #[arg(long, env = "PARLEY_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
}

pub(crate) struct Ctx {
    pub nats: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub store: store::Store,
    pub concurrency: usize,
}

pub struct Presence {
    ctx: Arc<Ctx>,
    settings: Settings,
    ops: ops::OpsServer,
}

impl Presence {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = store::Store::connect(&settings.redis_url, &settings.redis_prefix)
            .await
            .context("connect to Redis")?;
        let parley_kit::nats::Fabric {
            nats,
            js,
            readiness,
        } = parley_kit::nats::Fabric::connect(&settings.common, "parley-presence").await?;
        store::ready_check(&readiness, store.clone());
        let ops = ops::OpsServer::start(settings.ops.ops_listen, readiness).await?;
        let ctx = Arc::new(Ctx {
            nats,
            js,
            store,
            concurrency: settings.concurrency.max(1),
        });
        Ok(Self { ctx, settings, ops })
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.addr()
    }

    /// Serve until `shutdown`; then stop taking work, finish what is in flight (bounded by
    /// `PARLEY_DRAIN_SECONDS`) and flush NATS.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self { ctx, settings, ops } = self;
        ops.drain_on(&shutdown);
        let subscription = commands::subscribe(&ctx.nats).await?;
        let commands = tokio::spawn(commands::run(ctx.clone(), subscription, shutdown.clone()));
        let sweeper = tokio::spawn(sweep::run(
            ctx.clone(),
            Duration::from_millis(settings.presence_sweep_ms.max(10)),
            settings.presence_sweep_batch.max(1),
            shutdown.clone(),
        ));
        let svc_ctx = ctx.clone();
        let serving = tokio::spawn(parley_kit::service::serve(
            ctx.nats.clone(),
            s::PRESENCE_ALL,
            s::PRESENCE_QUEUE,
            ctx.concurrency,
            shutdown.clone(),
            move |subject, payload| {
                let ctx = svc_ctx.clone();
                async move { dispatch(&ctx, &subject, payload).await }
            },
        ));
        tracing::info!("presence running");

        let finished = async {
            let (c, sw, sv) = tokio::join!(commands, sweeper, serving);
            let c = c.context("command task")?.context("presence commands");
            sw.context("sweeper task")?;
            let sv = sv.context("service task")?.context("presence service");
            c.and(sv)
        };
        let drain = Duration::from_secs(settings.common.drain_seconds);
        let result = tokio::select! {
            r = finished => r,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(drain).await } => {
                tracing::warn!("in-flight presence work not finished within the drain period");
                Ok(())
            }
        };
        if let Err(error) = ctx.nats.flush().await {
            tracing::warn!(%error, "nats flush on shutdown failed");
        }
        ops.stop().await;
        result
    }
}

async fn dispatch(ctx: &Ctx, subject: &str, payload: Bytes) -> Bytes {
    match subject {
        s::PRESENCE_GET => call(ctx, &payload, query::get).await,
        other => encode::<()>(Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no endpoint {other}"),
        ))),
    }
}
