//! PostgreSQL: each worker owns one schema; its pool's `search_path` points there, so its
//! migrations table and tables never meet another worker's.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub async fn connect(url: &str, schema: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with(url, schema, max_connections, &[]).await
}

/// [`connect`] with more run-time parameters for every pooled connection (`SET name = value`).
pub async fn connect_with(
    url: &str,
    schema: &str,
    max_connections: u32,
    parameters: &[(&str, &str)],
) -> anyhow::Result<PgPool> {
    anyhow::ensure!(
        schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "schema name must be [a-z_]"
    );
    let base = PgConnectOptions::from_str(url)?;
    // Create the schema with a short-lived connection before any pooled one sets search_path.
    let bootstrap = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(base.clone())
        .await?;
    // The name was checked to be [a-z_] above.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&bootstrap)
    .await?;
    bootstrap.close().await;
    let opts = base
        .options([("search_path", schema)])
        .options(parameters.iter().copied());
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await?;
    Ok(pool)
}

/// A worker's store: a pool on its own `schema`, with the worker's migrations applied.
pub async fn open(
    args: &crate::args::DbArgs,
    schema: &str,
    migrator: &sqlx::migrate::Migrator,
) -> anyhow::Result<PgPool> {
    use anyhow::Context as _;
    let pool = connect(&args.database_url, schema, args.db_pool)
        .await
        .context("connect to PostgreSQL")?;
    migrator
        .run(&pool)
        .await
        .with_context(|| format!("run {schema} migrations"))?;
    Ok(pool)
}

/// Export pool gauges and a round-trip probe every few seconds until `stop`.
///
/// The probe (`SELECT 1` through the pool, `query="ping"`) times what every query pays at
/// least: acquiring a connection plus one round trip. It rises when the pool is exhausted or
/// the server is slow, whatever the workers' own queries are.
pub fn export_pool_metrics(
    pool: PgPool,
    worker: &'static str,
    stop: tokio_util::sync::CancellationToken,
) {
    use crate::metrics_names as m;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    metrics::gauge!(m::DB_POOL_CONNECTIONS, "worker" => worker).set(pool.size() as f64);
                    metrics::gauge!(m::DB_POOL_IDLE, "worker" => worker).set(pool.num_idle() as f64);
                    let started = std::time::Instant::now();
                    let outcome = match sqlx::query("SELECT 1").execute(&pool).await {
                        Ok(_) => "ok",
                        Err(_) => "error",
                    };
                    metrics::histogram!(m::DB_QUERY_SECONDS, "worker" => worker, "query" => "ping", "outcome" => outcome)
                        .record(started.elapsed().as_secs_f64());
                }
            }
        }
    });
}

/// Readiness check: a trivial query answers.
pub fn ready_check(readiness: &crate::ops::Readiness, pool: PgPool) {
    readiness.check("postgres", move || {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT 1")
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    });
}
