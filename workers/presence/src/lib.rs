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

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parley_contracts::subjects::svc as s;
use parley_kit::args::{OpsArgs, RedisArgs};
use parley_kit::service::{Answer, handle};
use parley_kit::{Base, CommonArgs, Tasks, Worker};

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
    /// Redis (presence state).
    #[command(flatten)]
    pub redis: RedisArgs,
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
}

parley_kit::worker_settings!(Settings { common = common, ops = ops, redis = redis });

impl Worker for Presence {
    const NAME: &'static str = "presence";
    type Settings = Settings;

    async fn build(base: &Base, settings: Settings) -> anyhow::Result<Self> {
        let ctx = Arc::new(Ctx {
            nats: base.nats.clone(),
            js: base.js.clone(),
            store: store::Store::new(base.redis()?),
            concurrency: settings.concurrency.max(1),
        });
        Ok(Self { ctx, settings })
    }

    async fn start(self, _: &Base, tasks: &mut Tasks) -> anyhow::Result<()> {
        let Self { ctx, settings } = self;
        let subscription = commands::subscribe(&ctx.nats).await?;
        tasks.spawn(
            "commands",
            commands::run(ctx.clone(), subscription, tasks.shutdown()),
        );
        let sweeping = sweep::run(
            ctx.clone(),
            Duration::from_millis(settings.presence_sweep_ms.max(10)),
            settings.presence_sweep_batch.max(1),
            tasks.shutdown(),
        );
        tasks.spawn("sweep", async move {
            sweeping.await;
            Ok(())
        });
        let svc_ctx = ctx.clone();
        tasks.serve(
            ctx.nats.clone(),
            (s::PRESENCE_ALL, s::PRESENCE_QUEUE),
            ctx.concurrency,
            svc_ctx,
            |ctx, subject, payload| async move { dispatch(&ctx, &subject, payload).await },
        );
        Ok(())
    }
}

/// The typed table of `svc.presence.*`.
async fn dispatch(ctx: &Ctx, subject: &str, payload: Bytes) -> Answer {
    use parley_contracts::endpoint::{self as e, Endpoint};
    match subject {
        e::PresenceGet::SUBJECT => handle::<e::PresenceGet, _, _>(ctx, &payload, query::get).await,
        other => Answer::unknown(other),
    }
}
