//! One lifecycle for every worker. A worker names its settings and stores, builds itself from a
//! [`Base`] and spawns its tasks; the kit does the rest, the same way for every binary:
//!
//! settings (clap) → telemetry → stores (PostgreSQL schema + migrations, Redis) → NATS
//! (streams provisioned) → readiness checks → ops listener → [`Worker::build`] →
//! [`Worker::start`] → SIGTERM: `/readyz` false, tasks drain (at most `PARLEY_DRAIN_SECONDS`)
//! → NATS flush → ops stop → pools closed.
//!
//! `main.rs` is `parley_kit::main::<MyWorker>()`; tests run a worker in-process with
//! [`App::build`] and [`App::run`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
#[cfg(feature = "db")]
pub use sqlx::PgPool;
#[cfg(feature = "db")]
pub use sqlx::migrate::Migrator;

/// Without the kit's `db` feature a worker owns no schema: nothing to migrate, no pool (the
/// edge and the store-less workers link no database driver).
#[cfg(not(feature = "db"))]
#[derive(Debug)]
pub enum Migrator {}
#[cfg(not(feature = "db"))]
#[derive(Debug, Clone)]
pub enum PgPool {}
#[cfg(not(feature = "db"))]
impl PgPool {
    async fn close(&self) {
        match *self {}
    }
}
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::args::{CommonArgs, DbArgs, OpsArgs, PublishArgs};
use crate::ops::OpsServer;

/// What the kit reads from a worker's settings. Each worker flattens [`CommonArgs`] and
/// [`OpsArgs`] (and [`DbArgs`], `RedisArgs`, [`PublishArgs`] as it needs them) into one clap
/// struct, so `--help` lists every option.
pub trait WorkerSettings: clap::Parser + Send + Sync + 'static {
    fn common(&self) -> &CommonArgs;
    fn ops(&self) -> &OpsArgs;
    /// The PostgreSQL server of the worker's schema, if it owns one.
    fn postgres(&self) -> Option<&DbArgs> {
        None
    }
    /// The Redis server, if the worker keeps state there.
    #[cfg(feature = "redis")]
    fn redis(&self) -> Option<&crate::args::RedisArgs> {
        None
    }
    /// Options of JetStream group writes, if the worker publishes groups ([`crate::batch`]).
    fn publish(&self) -> Option<&PublishArgs> {
        None
    }
}

/// A worker binary: its settings, how it is built from a started [`Base`], and its tasks.
pub trait Worker: Sized + Send + 'static {
    /// Short name: log and metric label, NATS connection `parley-<NAME>`, PostgreSQL schema.
    const NAME: &'static str;
    type Settings: WorkerSettings;

    /// Migrations of the worker's schema, run by the kit before [`Worker::build`].
    fn migrations() -> Option<&'static Migrator> {
        None
    }

    /// Everything that can fail at start-up beyond the kit's connections.
    fn build(
        base: &Base,
        settings: Self::Settings,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Spawn the worker's tasks on `tasks`. Each runs until [`Tasks::shutdown`] fires and then
    /// finishes what it has in hand.
    fn start(
        self,
        base: &Base,
        tasks: &mut Tasks,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What the kit opened for a worker before building it.
pub struct Base {
    pub nats: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub ops: OpsServer,
    /// The worker's schema, migrated (when its settings name a PostgreSQL server).
    pub postgres: Option<PgPool>,
    #[cfg(feature = "redis")]
    pub redis: Option<Redis>,
}

/// A Redis connection (reconnecting by itself) and the prefix of every key this process writes.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct Redis {
    pub conn: redis::aio::ConnectionManager,
    pub prefix: String,
}

impl Base {
    /// Connect every store the settings name (running `migrations`), then NATS, register the
    /// readiness checks and start the ops listener. `name` is the worker's short name.
    pub async fn start<S: WorkerSettings>(
        settings: &S,
        name: &'static str,
        migrations: Option<&'static Migrator>,
    ) -> anyhow::Result<Self> {
        #[cfg(feature = "db")]
        let postgres = match (settings.postgres(), migrations) {
            (Some(args), Some(migrator)) => Some(crate::db::open(args, name, migrator).await?),
            (Some(args), None) => Some(
                crate::db::connect(&args.database_url, name, args.db_pool)
                    .await
                    .context("connect to PostgreSQL")?,
            ),
            (None, _) => None,
        };
        #[cfg(not(feature = "db"))]
        let postgres: Option<PgPool> = match (settings.postgres(), migrations) {
            (Some(_), _) | (_, Some(_)) => {
                anyhow::bail!("{name} was built without PostgreSQL support (kit feature `db`)")
            }
            (None, None) => None,
        };
        #[cfg(feature = "redis")]
        let redis = match settings.redis() {
            Some(args) => Some(Redis::connect(args).await.context("connect to Redis")?),
            None => None,
        };
        let crate::nats::Fabric {
            nats,
            js,
            readiness,
        } = crate::nats::Fabric::connect(settings.common(), &format!("parley-{name}")).await?;
        #[cfg(feature = "db")]
        if let Some(db) = &postgres {
            crate::db::ready_check(&readiness, db.clone());
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &redis {
            redis.ready_check(&readiness);
        }
        let ops = OpsServer::start(settings.ops().ops_listen, readiness).await?;
        #[cfg(feature = "db")]
        if let Some(db) = &postgres {
            crate::db::export_pool_metrics(db.clone(), name, ops.stop_token());
        }
        Ok(Self {
            nats,
            js,
            ops,
            postgres,
            #[cfg(feature = "redis")]
            redis,
        })
    }

    /// The worker's pool; an error when its settings name no PostgreSQL server.
    pub fn postgres(&self) -> anyhow::Result<PgPool> {
        self.postgres
            .clone()
            .context("this worker's settings name no PostgreSQL server")
    }

    /// The Redis connection; an error when the settings name no Redis server.
    #[cfg(feature = "redis")]
    pub fn redis(&self) -> anyhow::Result<Redis> {
        self.redis
            .clone()
            .context("this worker's settings name no Redis server")
    }
}

#[cfg(feature = "redis")]
impl Redis {
    pub async fn connect(args: &crate::args::RedisArgs) -> anyhow::Result<Self> {
        let client = redis::Client::open(args.redis_url.as_str())?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            prefix: args.redis_prefix.clone(),
        })
    }

    /// Readiness check: Redis answers PING.
    pub fn ready_check(&self, readiness: &crate::ops::Readiness) {
        let conn = self.conn.clone();
        readiness.check("redis", move || {
            let mut conn = conn.clone();
            async move {
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        });
    }
}

/// The tasks a worker runs, and what to close after they end.
pub struct Tasks {
    shutdown: CancellationToken,
    running: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
    pools: Vec<PgPool>,
}

impl Tasks {
    /// Fires on SIGTERM, or when a task of this worker failed: every task watches it.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Run `task` until it ends; `name` labels its errors and logs.
    pub fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        self.running.push((name, tokio::spawn(task)));
    }

    /// Answer the service `subject` (its wildcard, e.g. `svc.history.>`) in queue group
    /// `queue`, at most `concurrency` requests at once, each by `dispatch(ctx, subject,
    /// payload)` (a worker's typed endpoint table).
    pub fn serve<C, F, Fut>(
        &mut self,
        nats: async_nats::Client,
        (subject, queue): (&'static str, &'static str),
        concurrency: usize,
        ctx: C,
        dispatch: F,
    ) where
        C: Clone + Send + Sync + 'static,
        F: Fn(C, String, bytes::Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::service::Answer> + Send + 'static,
    {
        let serving = crate::service::serve(
            nats,
            subject,
            queue,
            concurrency,
            self.shutdown(),
            move |subject, payload| dispatch(ctx.clone(), subject, payload),
        );
        self.spawn("serve", serving);
    }

    /// Close `pool` once every task has ended (the worker's own extra pools; the kit closes
    /// [`Base::postgres`]).
    pub fn close_at_exit(&mut self, pool: PgPool) {
        self.pools.push(pool);
    }

    /// Wait for every task. The first to fail stops the others (the error is returned, so the
    /// process exits non-zero for its supervisor to restart it). Once `shutdown` fires, tasks
    /// get `drain` to finish; those still running then are aborted.
    async fn join(
        self,
        drain: Duration,
        worker: &'static str,
    ) -> (anyhow::Result<()>, Vec<PgPool>) {
        let Self {
            shutdown,
            running,
            pools,
        } = self;
        let aborts: Vec<AbortHandle> = running.iter().map(|(_, h)| h.abort_handle()).collect();
        let mut running: futures::stream::FuturesUnordered<_> = running
            .into_iter()
            .map(|(name, handle)| async move { (name, handle.await) })
            .collect();
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(drain).await;
        };
        tokio::pin!(deadline);
        let mut result = Ok(());
        loop {
            tokio::select! {
                next = running.next() => {
                    let Some((name, ended)) = next else { break };
                    let error = match ended {
                        Ok(Ok(())) => {
                            tracing::debug!(worker, task = name, "task ended");
                            continue;
                        }
                        Ok(Err(error)) => error.context(name),
                        Err(join) => anyhow::anyhow!("{name}: {join}"),
                    };
                    tracing::error!(worker, error = format!("{error:#}"), "task failed; stopping");
                    if result.is_ok() {
                        result = Err(error);
                    }
                    shutdown.cancel();
                }
                _ = &mut deadline => {
                    tracing::warn!(worker, drain_seconds = drain.as_secs(), "in-flight work not finished within the drain period; stopping anyway");
                    for abort in &aborts {
                        abort.abort();
                    }
                    break;
                }
            }
        }
        (result, pools)
    }
}

/// Bound on each step after the drain (NATS flush, closing a pool): none may keep a stopping
/// process alive on a dependency that is down.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A worker built and ready to run.
pub struct App<W: Worker> {
    base: Base,
    worker: W,
    drain: Duration,
}

impl<W: Worker> App<W> {
    /// Open the stores and NATS, start the ops listener (announced on stdout when it has an
    /// address) and build the worker.
    pub async fn build(settings: W::Settings) -> anyhow::Result<Self> {
        if let Some(publish) = settings.publish() {
            crate::batch::configure(publish);
        }
        let drain = Duration::from_secs(settings.common().drain_seconds);
        let base = Base::start(&settings, W::NAME, W::migrations()).await?;
        let worker = W::build(&base, settings).await?;
        Ok(Self {
            base,
            worker,
            drain,
        })
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.base.ops.addr()
    }

    /// Run until `shutdown` (or a task fails); then drain, flush NATS, stop the ops listener
    /// and close the pools.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            base,
            worker,
            drain,
        } = self;
        base.ops.drain_on(&shutdown);
        let mut tasks = Tasks {
            shutdown: shutdown.child_token(),
            running: Vec::new(),
            pools: Vec::new(),
        };
        let started = worker.start(&base, &mut tasks).await;
        if started.is_err() {
            tasks.shutdown.cancel();
        } else {
            tracing::info!(worker = W::NAME, "running");
        }
        let (ran, pools) = tasks.join(drain, W::NAME).await;
        if tokio::time::timeout(CLOSE_TIMEOUT, base.nats.flush())
            .await
            .map_or(true, |r| r.is_err())
        {
            tracing::warn!(worker = W::NAME, "NATS flush on shutdown failed");
        }
        base.ops.stop().await;
        for pool in base.postgres.iter().chain(&pools) {
            if tokio::time::timeout(CLOSE_TIMEOUT, pool.close())
                .await
                .is_err()
            {
                tracing::warn!(worker = W::NAME, "database connections still busy at exit");
            }
        }
        tracing::info!(worker = W::NAME, "stopped");
        started.and(ran)
    }
}

/// The whole `main` of a worker binary: settings from flags and `PARLEY_*` variables,
/// telemetry, SIGTERM/SIGINT handling, [`App::build`], [`App::run`].
pub fn main<W: Worker>() -> anyhow::Result<()> {
    let settings = <W::Settings as clap::Parser>::parse();
    crate::telemetry::init(W::NAME, &settings.common().log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?
        .block_on(async {
            let shutdown = crate::shutdown::on_signal();
            App::<W>::build(settings).await?.run(shutdown).await
        })
}

/// Implement [`WorkerSettings`] by naming the fields that hold each group of options:
/// `worker_settings!(Settings { common = common, ops = ops, postgres = db })`; the groups are
/// `common`, `ops`, `postgres`, `redis` and `publish`.
#[macro_export]
macro_rules! worker_settings {
    ($ty:ty { $($group:ident = $field:ident),* $(,)? }) => {
        impl $crate::WorkerSettings for $ty {
            $( $crate::__settings_group!($group, $field); )*
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __settings_group {
    (common, $f:ident) => {
        fn common(&self) -> &$crate::CommonArgs {
            &self.$f
        }
    };
    (ops, $f:ident) => {
        fn ops(&self) -> &$crate::args::OpsArgs {
            &self.$f
        }
    };
    (postgres, $f:ident) => {
        fn postgres(&self) -> Option<&$crate::args::DbArgs> {
            Some(&self.$f)
        }
    };
    (redis, $f:ident) => {
        fn redis(&self) -> Option<&$crate::args::RedisArgs> {
            Some(&self.$f)
        }
    };
    (publish, $f:ident) => {
        fn publish(&self) -> Option<&$crate::args::PublishArgs> {
            Some(&self.$f)
        }
    };
}
