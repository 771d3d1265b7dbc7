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

use std::time::Duration;

use parley_contracts::subjects::consumer;
use parley_kit::consume::ConsumeOptions;
use parley_kit::members::MemberCache;
use parley_kit::{Base, CommonArgs, Tasks, Worker, args::OpsArgs};

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
}

parley_kit::worker_settings!(Settings { common = common, ops = ops });

impl Worker for Delivery {
    const NAME: &'static str = "delivery";
    type Settings = Settings;

    async fn build(_: &Base, settings: Settings) -> anyhow::Result<Self> {
        Ok(Self { settings })
    }

    async fn start(self, base: &Base, tasks: &mut Tasks) -> anyhow::Result<()> {
        let settings = self.settings;
        let cache_ttl = Duration::from_secs(settings.member_cache_ttl_seconds);
        let members = MemberCache::start(
            base.nats.clone(),
            cache_ttl,
            settings.member_cache_capacity,
            base.ops.stop_token(),
        )
        .await?;
        let events_consumer = parley_jetstream::consumer(&base.js, consumer::DELIVERY).await?;
        let presence_consumer =
            parley_jetstream::consumer(&base.js, consumer::DELIVERY_PRESENCE).await?;
        let read_settings = parley_kit::settings::SettingsCache::start(
            base.nats.clone(),
            cache_ttl,
            settings.member_cache_capacity,
            base.ops.stop_token(),
        )
        .await?;
        // Two generations of at most 100,000 keys each (~20 MB at most): a minute at 1,600 events/s.
        let recent = std::sync::Arc::new(recent::Recent::new(
            Duration::from_secs(settings.dedupe_seconds),
            100_000,
        ));
        let router = |events| route::Router {
            nats: base.nats.clone(),
            members: members.clone(),
            settings: read_settings.clone(),
            events,
            recent: recent.clone(),
        };
        tasks.spawn(
            "typing",
            typing::run(base.nats.clone(), members.clone(), tasks.shutdown()),
        );
        tasks.spawn(
            "live",
            live::run(
                base.nats.clone(),
                router(route::Events::AllButPresence),
                tasks.shutdown(),
            ),
        );
        // One consume loop per consumer, sharing the caches.
        for (durable, name, events) in [
            (
                events_consumer,
                consumer::DELIVERY,
                route::Events::AllButPresence,
            ),
            (
                presence_consumer,
                consumer::DELIVERY_PRESENCE,
                route::Events::Presence,
            ),
        ] {
            let options = ConsumeOptions {
                name,
                max_batch: settings.batch,
                in_flight: 1,
            };
            let consuming =
                parley_kit::consume::run(durable, router(events), options, tasks.shutdown());
            tasks.spawn(name, consuming);
        }
        Ok(())
    }
}
