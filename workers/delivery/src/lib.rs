//! The delivery worker: fans sequenced events out to every member's devices. It consumes
//! `chat.evt.msg.>`, `chat.evt.member.>`, `chat.evt.receipt.>` and `chat.evt.presence.>`,
//! routes persist's live copies of message events (`chat.live.msg.>`, whichever copy of an
//! event comes first) and core-publishes ready-to-send frames on
//! `chat.user.<userId>`, where each edge connection of that user listens. It stores nothing:
//! a device that is offline catches up through `sync`.

mod live;
mod recent;
mod route;
mod typing;

use std::net::SocketAddr;
use std::time::Duration;

use parley_contracts::subjects::consumer;
use parley_kit::consume::ConsumeOptions;
use parley_kit::members::MemberCache;
use parley_kit::{CancellationToken, CommonArgs, args::OpsArgs, ops};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "parley-delivery",
    about = "Parley delivery worker: routes events to member devices"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
    /// Events handled per batch at most.
    #[arg(long, env = "PARLEY_DELIVERY_BATCH", default_value_t = 256)]
    pub batch: usize,
    /// Seconds a cached member list is trusted without a membership event.
    #[arg(long, env = "PARLEY_MEMBER_CACHE_TTL_SECONDS", default_value_t = 60)]
    pub member_cache_ttl_seconds: u64,
    /// Conversations whose members are cached at most.
    #[arg(long, env = "PARLEY_MEMBER_CACHE_CAPACITY", default_value_t = 100_000)]
    pub member_cache_capacity: usize,
    /// Seconds a routed message event is remembered, so that its second copy (live, then from
    /// EVENTS) is skipped; a copy arriving later than that is routed again.
    #[arg(long, env = "PARLEY_DELIVERY_DEDUPE_SECONDS", default_value_t = 60)]
    pub dedupe_seconds: u64,
}

pub struct Delivery {
    settings: Settings,
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    ops: ops::OpsServer,
}

impl Delivery {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let parley_kit::nats::Fabric {
            nats,
            js,
            readiness,
        } = parley_kit::nats::Fabric::connect(&settings.common, "parley-delivery").await?;
        let ops = ops::OpsServer::start(settings.ops.ops_listen, readiness).await?;
        Ok(Self {
            settings,
            nats,
            js,
            ops,
        })
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let members = MemberCache::start(
            self.nats.clone(),
            Duration::from_secs(self.settings.member_cache_ttl_seconds),
            self.settings.member_cache_capacity,
            self.ops.stop_token(),
        )
        .await?;
        let events_consumer = parley_jetstream::consumer(&self.js, consumer::DELIVERY).await?;
        let presence_consumer =
            parley_jetstream::consumer(&self.js, consumer::DELIVERY_PRESENCE).await?;
        let typing = tokio::spawn(typing::run(
            self.nats.clone(),
            members.clone(),
            shutdown.clone(),
        ));
        let settings = parley_kit::settings::SettingsCache::start(
            self.nats.clone(),
            Duration::from_secs(self.settings.member_cache_ttl_seconds),
            self.settings.member_cache_capacity,
            self.ops.stop_token(),
        )
        .await?;
        // Two generations of at most 100,000 keys each (~20 MB at most): a minute at 1,600 events/s.
        let recent = std::sync::Arc::new(recent::Recent::new(
            Duration::from_secs(self.settings.dedupe_seconds),
            100_000,
        ));
        let router = |events| route::Router {
            nats: self.nats.clone(),
            members: members.clone(),
            settings: settings.clone(),
            events,
            recent: recent.clone(),
        };
        let live = tokio::spawn(live::run(
            self.nats.clone(),
            router(route::Events::AllButPresence),
            shutdown.clone(),
        ));
        // One consume loop per consumer, sharing the caches.
        let run = |durable, name, events| {
            parley_kit::consume::run(
                durable,
                router(events),
                ConsumeOptions {
                    name,
                    max_batch: self.settings.batch,
                    in_flight: 1,
                },
                shutdown.clone(),
            )
        };
        self.ops.drain_on(&shutdown);
        tracing::info!("delivery running");
        let (result, presence_result) = tokio::join!(
            run(
                events_consumer,
                consumer::DELIVERY,
                route::Events::AllButPresence
            ),
            run(
                presence_consumer,
                consumer::DELIVERY_PRESENCE,
                route::Events::Presence
            ),
        );
        let result = result.and(presence_result);
        if let Ok(Err(error)) = typing.await {
            tracing::error!(%error, "typing routing stopped");
        }
        if let Ok(Err(error)) = live.await {
            tracing::error!(%error, "live routing stopped");
        }
        let _ = self.nats.flush().await;
        self.ops.stop().await;
        result
    }
}
