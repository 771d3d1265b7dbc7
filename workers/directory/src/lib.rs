//! The directory worker: accounts, credentials and tokens, user search, conversations and
//! membership. It answers `svc.directory.*` and publishes membership changes on
//! `chat.evt.member.<conversation>`. It knows nothing about messages.

mod auth;
mod conversations;
mod privacy;
mod strength;
mod throttle;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use parley_contracts::subjects::svc as s;
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::service::{call, encode};
use parley_kit::{CancellationToken, CommonArgs, args::OpsArgs, ops};
use sqlx::PgPool;

pub use auth::Keys;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "parley-directory",
    about = "Parley directory worker: accounts, tokens, conversations, membership"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
    #[command(flatten)]
    pub db: parley_kit::args::DbArgs,
    /// Redis URL (login throttling).
    #[arg(
        long,
        env = "PARLEY_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Prefix for every Redis key this process writes.
    #[arg(long, env = "PARLEY_REDIS_PREFIX", default_value = "parley:")]
    pub redis_prefix: String,
    /// PEM file with the Ed25519 private key that signs access tokens.
    #[arg(long, env = "PARLEY_JWT_PRIVATE_KEY_FILE")]
    pub jwt_private_key_file: std::path::PathBuf,
    /// Access token lifetime, seconds.
    #[arg(long, env = "PARLEY_ACCESS_TTL_SECONDS", default_value_t = 900)]
    pub access_ttl_seconds: u64,
    /// Refresh token lifetime, seconds.
    #[arg(long, env = "PARLEY_REFRESH_TTL_SECONDS", default_value_t = 30 * 24 * 3600)]
    pub refresh_ttl_seconds: u64,
    /// Largest group, the creator included.
    #[arg(long, env = "PARLEY_MAX_GROUP_MEMBERS", default_value_t = parley_contracts::limits::DEFAULT_MAX_GROUP_MEMBERS)]
    pub max_group_members: usize,
    /// Failed logins per username per 15 minutes before further attempts are refused.
    #[arg(long, env = "PARLEY_LOGIN_FAILURES_MAX", default_value_t = 10)]
    pub login_failures_max: u32,
    /// Requests handled at once.
    #[arg(long, env = "PARLEY_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
}

pub(crate) struct Ctx {
    pub db: PgPool,
    pub js: async_nats::jetstream::Context,
    pub keys: Keys,
    pub throttle: throttle::Throttle,
    pub settings: Settings,
}

pub struct Directory {
    ctx: Arc<Ctx>,
    nats: async_nats::Client,
    ops: ops::OpsServer,
}

impl Directory {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let keys = Keys::from_private_pem_file(&settings.jwt_private_key_file)?;
        let db = parley_kit::db::open(&settings.db, "directory", &sqlx::migrate!("./migrations"))
            .await?;
        let throttle = throttle::Throttle::connect(
            &settings.redis_url,
            &settings.redis_prefix,
            settings.login_failures_max,
        )
        .await
        .context("connect to Redis")?;
        let parley_kit::worker::Base { nats, js, ops } = parley_kit::worker::Base::start(
            &settings.common,
            &settings.ops,
            "directory",
            Some(&db),
            |readiness| throttle.ready_check(readiness),
        )
        .await?;
        let ctx = Arc::new(Ctx {
            db,
            js,
            keys,
            throttle,
            settings,
        });
        Ok(Self { ctx, nats, ops })
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let ctx = self.ctx.clone();
        let concurrency = ctx.settings.concurrency;
        let serving = parley_kit::service::serve(
            self.nats.clone(),
            s::DIRECTORY_ALL,
            s::DIRECTORY_QUEUE,
            concurrency,
            shutdown.clone(),
            move |subject, payload| {
                let ctx = ctx.clone();
                async move { dispatch(&ctx, &subject, payload).await }
            },
        );
        tracing::info!("directory serving");
        self.ops.drain_on(&shutdown);
        // `serve` returns once the subscription is closed and in-flight requests are answered.
        let result = serving.await;
        let _ = self.nats.flush().await;
        self.ops.stop().await;
        self.ctx.db.close().await;
        result
    }
}

async fn dispatch(ctx: &Ctx, subject: &str, payload: Bytes) -> Bytes {
    match subject {
        s::REGISTER => call(ctx, &payload, users::register).await,
        s::LOGIN => call(ctx, &payload, users::login).await,
        s::REFRESH => call(ctx, &payload, users::refresh).await,
        s::LOGOUT => call(ctx, &payload, users::logout).await,
        s::USER_GET => call(ctx, &payload, users::get).await,
        s::USER_UPDATE => call(ctx, &payload, users::update).await,
        s::USER_SEARCH => call(ctx, &payload, users::search).await,
        s::CONV_CREATE => call(ctx, &payload, conversations::create).await,
        s::CONV_GET => call(ctx, &payload, conversations::get).await,
        s::CONV_LIST => call(ctx, &payload, conversations::list).await,
        s::CONV_UPDATE => call(ctx, &payload, conversations::update).await,
        s::MEMBERS_ADD => call(ctx, &payload, conversations::add_members).await,
        s::MEMBERS_REMOVE => call(ctx, &payload, conversations::remove_member).await,
        s::MEMBERS => call(ctx, &payload, conversations::members).await,
        s::BLOCK => call(ctx, &payload, privacy::block).await,
        s::UNBLOCK => call(ctx, &payload, privacy::unblock).await,
        s::BLOCKS => call(ctx, &payload, privacy::blocks).await,
        s::SETTINGS => call(ctx, &payload, privacy::settings).await,
        s::PRESENCE_AUDIENCE => call(ctx, &payload, privacy::audience).await,
        s::PRESENCE_VISIBLE => call(ctx, &payload, privacy::visible).await,
        other => encode::<()>(Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no endpoint {other}"),
        ))),
    }
}

/// Database errors are logged with their cause and answered without it.
pub(crate) fn db_err(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "database error");
    ApiError::new(
        ErrorCode::Unavailable,
        "storage is unavailable; retry shortly",
    )
}
