//! The presence worker in-process over testkit's fixtures (a nats-server with the streams, a
//! Redis key prefix deleted on drop), and the presence commands and requests tests send it.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use clap::Parser;
use parley_contracts::api::PresenceSetStatus;
use parley_contracts::error::ApiError;
use parley_contracts::events::{PresenceAction, PresenceCommand, PresenceEvent};
use parley_contracts::subjects::{self, svc};
use parley_contracts::svc::{PresenceGet, PresenceReply};
use parley_kit::CancellationToken;
use parley_testkit::{Bus, Events, RedisPrefix, redis_url};
use uuid::Uuid;

/// A nats-server with the streams provisioned and a Redis key prefix of the test's own (both
/// testkit's), presence workers started on them in-process, and the presence commands and
/// requests the tests send.
pub struct Env {
    pub bus: Bus,
    pub nats: async_nats::Client,
    pub redis: RedisPrefix,
}

impl Env {
    pub async fn start() -> anyhow::Result<Self> {
        if std::env::var("TEST_LOG").is_ok() {
            parley_kit::telemetry::init("presence-test", "text");
        }
        let bus = Bus::start().await?;
        Ok(Self {
            nats: bus.nats.clone(),
            bus,
            redis: RedisPrefix::new("parley_test:presence"),
        })
    }

    /// Start a worker on this server and prefix, sweeping every `sweep_ms`.
    pub async fn worker(&self, sweep_ms: u64) -> anyhow::Result<Worker> {
        let settings = parley_presence::Settings::try_parse_from([
            "parley-presence",
            "--nats-url",
            &self.bus.server.url(),
            "--nats-creds",
            &self
                .bus
                .server
                .creds("parley-presence")
                .display()
                .to_string(),
            "--redis-url",
            &redis_url(),
            "--redis-prefix",
            &self.redis.prefix,
            "--ops-listen",
            "127.0.0.1:0",
            "--presence-sweep-ms",
            &sweep_ms.to_string(),
            "--drain-seconds",
            "5",
        ])?;
        let app = parley_kit::App::<parley_presence::Presence>::build(settings).await?;
        let ops = app.ops_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run(stop.clone()));
        Ok(Worker { stop, task, ops })
    }

    pub async fn send(
        &self,
        user: Uuid,
        connection: Uuid,
        action: PresenceAction,
        status: Option<PresenceSetStatus>,
        ttl_seconds: u64,
    ) -> anyhow::Result<()> {
        let cmd = PresenceCommand {
            v: 1,
            user_id: user,
            connection_id: connection,
            action,
            status,
            ttl_seconds,
            at: Utc::now(),
        };
        self.nats
            .publish(subjects::presence(user), serde_json::to_vec(&cmd)?.into())
            .await?;
        self.nats.flush().await?;
        Ok(())
    }

    pub async fn connect(&self, user: Uuid, connection: Uuid) -> anyhow::Result<()> {
        self.send(user, connection, PresenceAction::Connect, None, 30)
            .await
    }

    pub async fn disconnect(&self, user: Uuid, connection: Uuid) -> anyhow::Result<()> {
        self.send(user, connection, PresenceAction::Disconnect, None, 30)
            .await
    }

    pub async fn set(
        &self,
        user: Uuid,
        connection: Uuid,
        status: PresenceSetStatus,
    ) -> anyhow::Result<()> {
        self.send(user, connection, PresenceAction::Set, Some(status), 30)
            .await
    }

    pub async fn get(&self, users: &[Uuid]) -> Result<PresenceReply, ApiError> {
        parley_kit::nats::request(
            &self.nats,
            svc::PRESENCE_GET,
            &PresenceGet {
                user_ids: users.to_vec(),
            },
        )
        .await
    }

    /// Every presence event stored in EVENTS for `filter` (a subject, wildcards allowed), from
    /// the start of the stream.
    pub async fn events(&self, filter: String) -> anyhow::Result<Events<PresenceEvent>> {
        self.bus.events(filter).await
    }
}

pub struct Worker {
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub ops: Option<SocketAddr>,
}

impl Worker {
    /// Stop as on SIGTERM and wait for `run` to return.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task).await???;
        Ok(())
    }
}

/// Wait until the worker's subscriptions are live: a request answered proves the service is,
/// and the command subscription was made before it.
pub async fn ready(env: &Env) -> anyhow::Result<()> {
    for _ in 0..100 {
        if env.get(&[]).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("presence service did not answer")
}
