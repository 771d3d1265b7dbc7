//! The edge: WebSocket + REST gateway. It authenticates, validates, checks membership
//! (cached), rate-limits and publishes commands to JetStream; it relays `chat.user.<id>` to the
//! user's sockets. It holds no durable state and opens no database connection: any edge can
//! serve any user, and killing one loses nothing that was acknowledged.

mod auth;
mod client_addr;
mod commands;
mod committer;
mod error;
mod live;
mod ratelimit;
mod rest;
mod serve;
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
    /// New WebSocket connections per second per client address (sustained) and burst, spent
    /// before the edge-wide accept rate, so one client opening sockets in a loop cannot use
    /// up everyone's connects.
    #[arg(long, env = "PARLEY_ADDR_ACCEPT_RATE", default_value_t = 10.0)]
    pub addr_accept_rate: f64,
    #[arg(long, env = "PARLEY_ADDR_ACCEPT_BURST", default_value_t = 50.0)]
    pub addr_accept_burst: f64,
    /// REST requests per second per client address (sustained) and burst; failing ones count.
    #[arg(long, env = "PARLEY_ADDR_REST_RATE", default_value_t = 20.0)]
    pub addr_rest_rate: f64,
    #[arg(long, env = "PARLEY_ADDR_REST_BURST", default_value_t = 100.0)]
    pub addr_rest_burst: f64,
    /// Sign-ins (register, login, refresh) per second per client address and burst: each is an
    /// Argon2 hash or a token rotation. The default allows 30 a minute after a burst of 20.
    #[arg(long, env = "PARLEY_ADDR_AUTH_RATE", default_value_t = 0.5)]
    pub addr_auth_rate: f64,
    #[arg(long, env = "PARLEY_ADDR_AUTH_BURST", default_value_t = 20.0)]
    pub addr_auth_burst: f64,
    /// Take the client's address from the last `X-Forwarded-For` entry (set this only behind
    /// a load balancer that appends it, as `ops/nginx/nginx.conf` does; otherwise clients
    /// could pick their own address).
    #[arg(long, env = "PARLEY_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_forwarded_for: bool,
    /// Commands per second per connection (sustained) and burst.
    #[arg(long, env = "PARLEY_CONN_RATE", default_value_t = 20.0)]
    pub conn_rate: f64,
    #[arg(long, env = "PARLEY_CONN_BURST", default_value_t = 50.0)]
    pub conn_burst: f64,
    /// Frames of any kind per second per connection (sustained) and burst, spent before a
    /// frame is even parsed, so invalid or cheap-looking frames are metered too.
    #[arg(long, env = "PARLEY_CONN_FRAME_RATE", default_value_t = 50.0)]
    pub conn_frame_rate: f64,
    #[arg(long, env = "PARLEY_CONN_FRAME_BURST", default_value_t = 200.0)]
    pub conn_frame_burst: f64,
    /// Commands per second per user on this edge (all devices together) and burst.
    #[arg(long, env = "PARLEY_USER_RATE", default_value_t = 30.0)]
    pub user_rate: f64,
    #[arg(long, env = "PARLEY_USER_BURST", default_value_t = 100.0)]
    pub user_burst: f64,
    /// Seconds between server pings; a connection silent for three intervals is closed.
    #[arg(long, env = "PARLEY_PING_SECONDS", default_value_t = 20)]
    pub ping_seconds: u64,
    /// Seconds an HTTP connection has to send each complete request head; also how long an
    /// idle keep-alive connection stays open. Bounds what a client that sends nothing (or a
    /// byte at a time) can hold.
    #[arg(long, env = "PARLEY_HTTP_HEADER_TIMEOUT_SECONDS", default_value_t = 15)]
    pub http_header_timeout_seconds: u64,
    /// Seconds a new socket has to send its `auth` frame.
    #[arg(long, env = "PARLEY_AUTH_TIMEOUT_SECONDS", default_value_t = 10)]
    pub auth_timeout_seconds: u64,
    /// Frames queued for a slow socket before it is disconnected (it will sync on reconnect).
    #[arg(long, env = "PARLEY_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,
    /// Bytes of frames queued for one socket at most; a socket further behind is disconnected
    /// with close code 4008 (slow consumer) and syncs when it reconnects. A frame that finds
    /// the queue empty is always taken (one frame is at most 1 MiB by construction), and a
    /// sync's next batch waits until less than half of this is queued.
    #[arg(long, env = "PARLEY_WS_OUTBOUND_BYTES", default_value_t = 1024 * 1024)]
    pub ws_outbound_bytes: usize,
    /// Seconds a socket may go without taking a frame while frames wait for it; then it is
    /// disconnected with close code 4008 (slow consumer).
    #[arg(long, env = "PARLEY_WS_WRITE_TIMEOUT_SECONDS", default_value_t = 10)]
    pub ws_write_timeout_seconds: u64,
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
            address_accept: ratelimit::PerKey::new(
                settings.addr_accept_rate,
                settings.addr_accept_burst,
                100_000,
            ),
            address_rest: ratelimit::PerKey::new(
                settings.addr_rest_rate,
                settings.addr_rest_burst,
                100_000,
            ),
            address_auth: ratelimit::PerKey::new(
                settings.addr_auth_rate,
                settings.addr_auth_burst,
                100_000,
            ),
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
        serve::serve(
            self.listener,
            self.app,
            Duration::from_secs(state.settings.http_header_timeout_seconds.max(1)),
            shutdown,
        )
        .await;
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
        .nest(
            "/api/v1",
            rest::router().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                client_addr::rest_budget,
            )),
        )
        .route("/api", axum::routing::any(rest::not_found))
        .route("/api/{*rest}", axum::routing::any(rest::not_found))
        .route("/ws", axum::routing::get(ws::upgrade))
        .layer(axum::middleware::from_fn(trace::layer))
        .with_state(state.clone());
    if let Some(dir) = &state.settings.web_dir {
        let index = dir.join("index.html");
        let files = tower_http::services::ServeDir::new(dir)
            .fallback(tower_http::services::ServeFile::new(index));
        router = router.fallback_service(files);
    }
    security_headers(router)
}

/// The browser-side defences of every response: scripts, styles and connections only from
/// this origin (the client has no inline script or style element), never framed, never
/// content-sniffed, no referrer leaking conversation URLs to avatar hosts.
fn security_headers(router: Router) -> Router {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
        img-src 'self' data: blob: https:; connect-src 'self'; font-src 'self'; \
        object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
}
