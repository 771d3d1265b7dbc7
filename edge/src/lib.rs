//! The edge: WebSocket + REST gateway. It authenticates, validates, checks membership
//! (cached), rate-limits and publishes commands to JetStream; it relays `chat.user.<id>` to the
//! user's sockets. It holds no durable state and opens no database connection: any edge can
//! serve any user, and killing one loses nothing that was acknowledged.

mod auth;
mod commands;
mod committer;
mod error;
mod live;
mod ratelimit;
mod rest;
mod state;
mod trace;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use parley_kit::members::MemberCache;
use parley_kit::{CancellationToken, CommonArgs, ops};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

pub use state::AppState;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "parley-edge",
    about = "Parley edge: WebSocket + REST gateway (talks only to NATS)"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub publish: parley_kit::args::PublishArgs,
    /// Address to listen on (port 0 picks a free port, printed on stdout).
    #[arg(long, env = "PARLEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// PEM file with the Ed25519 public key that verifies access tokens.
    #[arg(long, env = "PARLEY_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: PathBuf,
    /// Directory of the built web client to serve at `/` (omit to serve none).
    #[arg(long, env = "PARLEY_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Open WebSocket connections at most; beyond, upgrades get 503 + Retry-After.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// New WebSocket connections per second (sustained), so a reconnect storm cannot topple the edge.
    #[arg(long, env = "PARLEY_ACCEPT_RATE", default_value_t = 500.0)]
    pub accept_rate: f64,
    /// Burst of new connections above the sustained rate.
    #[arg(long, env = "PARLEY_ACCEPT_BURST", default_value_t = 1000.0)]
    pub accept_burst: f64,
    /// Commands per second per connection (sustained) and burst.
    #[arg(long, env = "PARLEY_CONN_RATE", default_value_t = 20.0)]
    pub conn_rate: f64,
    #[arg(long, env = "PARLEY_CONN_BURST", default_value_t = 50.0)]
    pub conn_burst: f64,
    /// Commands per second per user on this edge (all devices together) and burst.
    #[arg(long, env = "PARLEY_USER_RATE", default_value_t = 30.0)]
    pub user_rate: f64,
    #[arg(long, env = "PARLEY_USER_BURST", default_value_t = 100.0)]
    pub user_burst: f64,
    /// Seconds between server pings; a connection silent for three intervals is closed.
    #[arg(long, env = "PARLEY_PING_SECONDS", default_value_t = 20)]
    pub ping_seconds: u64,
    /// Seconds a new socket has to send its `auth` frame.
    #[arg(long, env = "PARLEY_AUTH_TIMEOUT_SECONDS", default_value_t = 10)]
    pub auth_timeout_seconds: u64,
    /// Frames queued for a slow socket before it is disconnected (it will sync on reconnect).
    #[arg(long, env = "PARLEY_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,
    /// Upper bound of the random delay drained clients are told to wait before reconnecting, ms.
    #[arg(long, env = "PARLEY_RECONNECT_JITTER_MS", default_value_t = 5000)]
    pub reconnect_jitter_ms: u64,
    /// Catch-ups (a `sync`, a new device's first look at its contacts' presence) that run at
    /// once on this edge; more wait for a slot. A reconnect storm then reaches the services
    /// as a steady stream of requests instead of a wall that times out.
    #[arg(long, env = "PARLEY_CATCHUP_CONCURRENCY", default_value_t = 64)]
    pub catchup_concurrency: usize,
    /// Seconds a cached member list is trusted without a membership event.
    #[arg(long, env = "PARLEY_MEMBER_CACHE_TTL_SECONDS", default_value_t = 30)]
    pub member_cache_ttl_seconds: u64,
    /// Seconds between presence heartbeats of a connection.
    #[arg(long, env = "PARLEY_PRESENCE_HEARTBEAT_SECONDS", default_value_t = 15)]
    pub presence_heartbeat_seconds: u64,
    /// Seconds a connection counts as online without a heartbeat (bounds how long the users
    /// of a crashed edge still look online).
    #[arg(long, env = "PARLEY_PRESENCE_TTL_SECONDS", default_value_t = 45)]
    pub presence_ttl_seconds: u64,
}

pub struct Edge {
    state: AppState,
    listener: TcpListener,
    app: Router,
    stop_aux: CancellationToken,
}

impl Edge {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let metrics = ops::install_metrics();
        parley_kit::batch::configure(&settings.publish);
        let pem = std::fs::read(&settings.jwt_public_key_file)
            .with_context(|| format!("read {}", settings.jwt_public_key_file.display()))?;
        let verifier =
            auth::Verifier::from_public_pem(&pem).context("parse Ed25519 public key (PEM)")?;
        let parley_kit::nats::Fabric {
            nats,
            js,
            readiness,
        } = parley_kit::nats::Fabric::connect(&settings.common, "parley-edge").await?;
        let stop_aux = CancellationToken::new();
        let members = MemberCache::start(
            nats.clone(),
            Duration::from_secs(settings.member_cache_ttl_seconds),
            100_000,
            stop_aux.clone(),
        )
        .await?;
        let read_settings = parley_kit::settings::SettingsCache::start(
            nats.clone(),
            Duration::from_secs(settings.member_cache_ttl_seconds),
            100_000,
            stop_aux.clone(),
        )
        .await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("bind {}", settings.listen))?;
        let committer = committer::Committer::start(nats.clone(), js.clone());
        let state = AppState(Arc::new(state::Inner {
            nats,
            js,
            committer,
            verifier,
            members,
            read_settings,
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            catchup: Arc::new(Semaphore::new(settings.catchup_concurrency.max(1))),
            conn_tasks: TaskTracker::new(),
            draining: CancellationToken::new(),
            accept_rate: Mutex::new(ratelimit::Bucket::new(
                settings.accept_rate,
                settings.accept_burst,
            )),
            user_rate: ratelimit::PerUser::new(settings.user_rate, settings.user_burst, 200_000),
            readiness: readiness.clone(),
            settings,
        }));
        let app = app(state.clone()).merge(ops::router(readiness, metrics));
        Ok(Self {
            state,
            listener,
            app,
            stop_aux,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.listen)
    }

    /// Serve until `shutdown`, then drain: readiness goes false, every socket is told to
    /// reconnect elsewhere (with jitter) and closed, in-flight requests finish.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = self.state.clone();
        let drain_started = shutdown.clone();
        let st = state.clone();
        tokio::spawn(async move {
            drain_started.cancelled().await;
            st.readiness.set_draining();
            st.draining.cancel();
        });
        // Frames are small and latency-bound: Nagle would hold one back for the peer's delayed
        // ACK (up to 40 ms) whenever an earlier one is still unacknowledged.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(
            listener,
            self.app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned());
        server.await?;
        state.conn_tasks.close();
        let grace = Duration::from_secs(state.settings.common.drain_seconds);
        if tokio::time::timeout(grace, state.conn_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the drain period; closing anyway");
        }
        let _ = state.nats.flush().await;
        self.stop_aux.cancel();
        tracing::info!("edge stopped");
        Ok(())
    }
}

/// All client-facing routes (REST under `/api/v1`, `/ws`, the web client).
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .nest("/api/v1", rest::router())
        .route("/ws", axum::routing::get(ws::upgrade))
        .layer(axum::middleware::from_fn(trace::layer))
        .with_state(state.clone());
    if let Some(dir) = &state.settings.web_dir {
        let index = dir.join("index.html");
        let files = tower_http::services::ServeDir::new(dir)
            .fallback(tower_http::services::ServeFile::new(index));
        router = router.fallback_service(files);
    }
    router
}
