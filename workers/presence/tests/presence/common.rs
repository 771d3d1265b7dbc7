//! A nats-server with the streams provisioned, a Redis key prefix of the test's own (deleted on
//! drop), presence workers running in-process, and NATS-side helpers.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use clap::Parser;
use futures::StreamExt;
use parley_contracts::api::PresenceSetStatus;
use parley_contracts::error::ApiError;
use parley_contracts::events::{PresenceAction, PresenceCommand, PresenceEvent};
use parley_contracts::subjects::{self, svc};
use parley_contracts::svc::{PresenceGet, PresenceReply};
use parley_kit::CancellationToken;
use parley_testkit::NatsServer;
use uuid::Uuid;

pub fn redis_url() -> String {
    std::env::var("PARLEY_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub struct Env {
    pub nats_server: NatsServer,
    pub nats: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub prefix: String,
}

impl Env {
    pub async fn start() -> anyhow::Result<Self> {
        if std::env::var("TEST_LOG").is_ok() {
            parley_kit::telemetry::init("presence-test", "text");
        }
        let nats_server = NatsServer::start()?;
        let nats = async_nats::connect(nats_server.url()).await?;
        let js = async_nats::jetstream::new(nats.clone());
        parley_jetstream::apply_streams(&js, Default::default()).await?;
        Ok(Self {
            nats_server,
            nats,
            js,
            prefix: format!("test:presence:{}:", Uuid::now_v7()),
        })
    }

    /// Start a worker on this server and prefix, sweeping every `sweep_ms`.
    pub async fn worker(&self, sweep_ms: u64) -> anyhow::Result<Worker> {
        let settings = parley_presence::Settings::try_parse_from([
            "parley-presence",
            "--nats-url",
            &self.nats_server.url(),
            "--redis-url",
            &redis_url(),
            "--redis-prefix",
            &self.prefix,
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
    pub async fn events(&self, filter: String) -> anyhow::Result<Events> {
        let stream = self.js.get_stream(subjects::stream::EVENTS).await?;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: filter,
                ..Default::default()
            })
            .await?;
        Ok(Events {
            messages: consumer.messages().await?,
        })
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Best effort: leave nothing behind in the shared Redis.
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
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

pub struct Events {
    messages: async_nats::jetstream::consumer::pull::Ordered,
}

impl Events {
    /// The next event within `within`, or `None`.
    pub async fn next(&mut self, within: Duration) -> anyhow::Result<Option<PresenceEvent>> {
        match tokio::time::timeout(within, self.messages.next()).await {
            Err(_) | Ok(None) => Ok(None),
            Ok(Some(msg)) => Ok(Some(serde_json::from_slice(&msg?.payload)?)),
        }
    }

    /// The next event, which must arrive within a few seconds.
    pub async fn expect(&mut self) -> anyhow::Result<PresenceEvent> {
        self.next(Duration::from_secs(5))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no presence event within 5 s"))
    }

    /// Nothing more arrives within `within`.
    pub async fn expect_none(&mut self, within: Duration) -> anyhow::Result<()> {
        match self.next(within).await? {
            None => Ok(()),
            Some(e) => anyhow::bail!("unexpected presence event {e:?}"),
        }
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
