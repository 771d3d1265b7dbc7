//! The directory worker: accounts, credentials and tokens, user search, conversations and
//! membership. It answers `svc.directory.*` and publishes membership changes on
//! `chat.evt.member.<conversation>`. It knows nothing about messages.

mod auth;
mod conversations;
mod privacy;
mod strength;
mod throttle;
mod users;

use std::sync::Arc;

use bytes::Bytes;
use parley_contracts::subjects::svc as s;
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::args::{OpsArgs, RedisArgs};
use parley_kit::service::{Answer, handle};
use parley_kit::{Base, CommonArgs, Tasks, Worker};
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
    /// Redis (failed-login counters, with `--login-throttle-store redis`).
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Where failed logins are counted: `redis` (shared by every directory instance) or
    /// `memory` (this process only; no Redis needed, each instance gives the full budget).
    #[arg(long, env = "PARLEY_LOGIN_THROTTLE_STORE", value_enum, default_value_t = throttle::Store::Redis)]
    pub login_throttle_store: throttle::Store,
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
}

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl parley_kit::WorkerSettings for Settings {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
    fn ops(&self) -> &OpsArgs {
        &self.ops
    }
    fn postgres(&self) -> Option<&parley_kit::args::DbArgs> {
        Some(&self.db)
    }
    fn redis(&self) -> Option<&RedisArgs> {
        (self.login_throttle_store == throttle::Store::Redis).then_some(&self.redis)
    }
}

impl Worker for Directory {
    const NAME: &'static str = "directory";
    type Settings = Settings;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATIONS)
    }

    async fn build(base: &Base, settings: Settings) -> anyhow::Result<Self> {
        let keys = Keys::from_private_pem_file(&settings.jwt_private_key_file)?;
        let counter: Arc<dyn throttle::FailureCounter> = match settings.login_throttle_store {
            throttle::Store::Redis => Arc::new(throttle::RedisCounter::new(base.redis()?)),
            throttle::Store::Memory => Arc::new(throttle::MemoryCounter::new(100_000)),
        };
        let throttle = throttle::Throttle::new(counter, settings.login_failures_max);
        let ctx = Arc::new(Ctx {
            db: base.postgres()?,
            js: base.js.clone(),
            keys,
            throttle,
            settings,
        });
        Ok(Self { ctx })
    }

    async fn start(self, base: &Base, tasks: &mut Tasks) -> anyhow::Result<()> {
        let ctx = self.ctx;
        let concurrency = ctx.settings.concurrency;
        tasks.serve(
            base.nats.clone(),
            (s::DIRECTORY_ALL, s::DIRECTORY_QUEUE),
            concurrency,
            ctx,
            |ctx, subject, payload| async move { dispatch(&ctx, &subject, payload).await },
        );
        Ok(())
    }
}

/// The typed table of `svc.directory.*`: each endpoint of the contracts to its handler.
async fn dispatch(ctx: &Ctx, subject: &str, payload: Bytes) -> Answer {
    use parley_contracts::endpoint::{self as e, Endpoint};
    match subject {
        e::Register::SUBJECT => handle::<e::Register, _, _>(ctx, &payload, users::register).await,
        e::Login::SUBJECT => handle::<e::Login, _, _>(ctx, &payload, users::login).await,
        e::Refresh::SUBJECT => handle::<e::Refresh, _, _>(ctx, &payload, users::refresh).await,
        e::Logout::SUBJECT => handle::<e::Logout, _, _>(ctx, &payload, users::logout).await,
        e::UserGet::SUBJECT => handle::<e::UserGet, _, _>(ctx, &payload, users::get).await,
        e::UserUpdate::SUBJECT => handle::<e::UserUpdate, _, _>(ctx, &payload, users::update).await,
        e::UserSearch::SUBJECT => handle::<e::UserSearch, _, _>(ctx, &payload, users::search).await,
        e::ConvCreate::SUBJECT => {
            handle::<e::ConvCreate, _, _>(ctx, &payload, conversations::create).await
        }
        e::ConvGet::SUBJECT => handle::<e::ConvGet, _, _>(ctx, &payload, conversations::get).await,
        e::ConvList::SUBJECT => {
            handle::<e::ConvList, _, _>(ctx, &payload, conversations::list).await
        }
        e::ConvUpdate::SUBJECT => {
            handle::<e::ConvUpdate, _, _>(ctx, &payload, conversations::update).await
        }
        e::MembersAdd::SUBJECT => {
            handle::<e::MembersAdd, _, _>(ctx, &payload, conversations::add_members).await
        }
        e::MembersRemove::SUBJECT => {
            handle::<e::MembersRemove, _, _>(ctx, &payload, conversations::remove_member).await
        }
        e::MembersGet::SUBJECT => {
            handle::<e::MembersGet, _, _>(ctx, &payload, conversations::members).await
        }
        e::Block::SUBJECT => handle::<e::Block, _, _>(ctx, &payload, privacy::block).await,
        e::Unblock::SUBJECT => handle::<e::Unblock, _, _>(ctx, &payload, privacy::unblock).await,
        e::Blocks::SUBJECT => handle::<e::Blocks, _, _>(ctx, &payload, privacy::blocks).await,
        e::SettingsGet::SUBJECT => {
            handle::<e::SettingsGet, _, _>(ctx, &payload, privacy::settings).await
        }
        e::PresenceAudience::SUBJECT => {
            handle::<e::PresenceAudience, _, _>(ctx, &payload, privacy::audience).await
        }
        e::PresenceVisible::SUBJECT => {
            handle::<e::PresenceVisible, _, _>(ctx, &payload, privacy::visible).await
        }
        other => Answer::unknown(other),
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
