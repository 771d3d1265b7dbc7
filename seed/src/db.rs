//! The database side: the workers' migrations, the refuse/force guard, dropping and rebuilding
//! the big tables' indexes around the load, and COPY writers.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use tokio::sync::mpsc;

use crate::pgcopy::{self, Rows};

/// The schemas and their owners' migrations. Each runs with `search_path` set to its schema,
/// as `parley_kit::db::connect` does for the worker, so `_sqlx_migrations` lands in the same
/// place and the worker finds its migrations applied.
fn migrators() -> [(&'static str, sqlx::migrate::Migrator); 4] {
    [
        (
            "directory",
            sqlx::migrate!("../workers/directory/migrations"),
        ),
        ("persist", sqlx::migrate!("../workers/persist/migrations")),
        ("receipts", sqlx::migrate!("../workers/receipts/migrations")),
        ("seed", sqlx::migrate!("./migrations")),
    ]
}

/// Every table the seeder writes (and `--force` empties).
pub const SEEDED_TABLES: &str = "directory.users, directory.refresh_tokens, directory.conversations, \
     directory.members, directory.blocks, persist.conversations, persist.messages, persist.events, \
     persist.reports, receipts.watermarks";

/// Tables whose keys and indexes are built after the load: one sorted build beats fifty
/// million B-tree insertions.
/// `directory.members` is here for its foreign keys: checked per row during COPY they cost
/// more than the copy itself; re-added, they are validated by one join.
pub const DEFERRED_INDEX_TABLES: [&str; 4] = [
    "persist.messages",
    "persist.events",
    "receipts.watermarks",
    "directory.members",
];

pub async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let opts = PgConnectOptions::from_str(url)?;
    let mut conn = opts.connect().await.context("connect to PostgreSQL")?;
    // One load is one transaction per COPY; nothing here needs to wait for a WAL flush.
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// Create the database if it does not exist (connecting to `postgres` to do it).
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(url)?;
    match opts.connect().await {
        Ok(c) => c.close().await.map_err(Into::into),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            let name = opts.get_database().unwrap_or("parley").to_string();
            anyhow::ensure!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "database name must be [A-Za-z0-9_]"
            );
            let mut admin = opts.clone().database("postgres").connect().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await?;
            Ok(())
        }
        Err(e) => Err(e).context("connect to PostgreSQL"),
    }
}

pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let base = PgConnectOptions::from_str(url)?;
    let mut admin = base.connect().await?;
    for (schema, migrator) in migrators() {
        // The names are constants of this file.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut admin)
        .await?;
        let mut conn = base
            .clone()
            .options([("search_path", schema)])
            .connect()
            .await?;
        migrator
            .run(&mut conn)
            .await
            .with_context(|| format!("migrations of schema {schema}"))?;
        conn.close().await?;
    }
    admin.close().await?;
    Ok(())
}

/// A description of what is already there, if anything.
pub async fn existing_data(conn: &mut PgConnection) -> anyhow::Result<Option<String>> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM directory.users) AS users,
                EXISTS (SELECT 1 FROM persist.messages) AS messages,
                (SELECT max(id) FROM seed.seed_runs) AS run,
                (SELECT finished_at IS NOT NULL FROM seed.seed_runs ORDER BY id DESC LIMIT 1) AS finished,
                (SELECT preset FROM seed.seed_runs ORDER BY id DESC LIMIT 1) AS preset",
    )
    .fetch_one(&mut *conn)
    .await?;
    let users: i64 = row.get("users");
    let messages: bool = row.get("messages");
    let run: Option<i64> = row.get("run");
    if users == 0 && !messages && run.is_none() {
        return Ok(None);
    }
    Ok(Some(match run {
        Some(id) if row.get::<Option<bool>, _>("finished") == Some(true) => format!(
            "seed run #{id} (preset {}) already loaded this database",
            row.get::<String, _>("preset")
        ),
        Some(id) => format!("seed run #{id} did not finish: the data is partial"),
        None => {
            format!("the database already holds data ({users} users) not written by the seeder")
        }
    }))
}

pub async fn truncate_all(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "TRUNCATE {SEEDED_TABLES}, seed.seed_runs"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Drop the keys and indexes of `tables` (and foreign keys pointing at them), remembering
/// their exact definitions in `seed.dropped_constraints` in the same transaction.
pub async fn drop_indexes(conn: &mut PgConnection, tables: &[&str]) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    let rows = sqlx::query(
        "SELECT format('%I.%I', n.nspname, t.relname) AS tbl, c.conname::text AS name,
                pg_get_constraintdef(c.oid) AS def, c.contype::text AS kind
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE (c.conrelid = ANY($1::text[]::regclass[]) AND c.contype IN ('p', 'u'))
            OR ((c.confrelid = ANY($1::text[]::regclass[]) OR c.conrelid = ANY($1::text[]::regclass[]))
                AND c.contype = 'f')
         UNION ALL
         SELECT format('%I.%I', n.nspname, t.relname), format('%I.%I', n.nspname, i.relname),
                pg_get_indexdef(i.oid), 'i'
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE x.indrelid = ANY($1::text[]::regclass[])
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                           WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x'))",
    )
    .bind(tables)
    .fetch_all(&mut *tx)
    .await?;
    let mut items: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| (r.get("tbl"), r.get("name"), r.get("def"), r.get("kind")))
        .collect();
    // Foreign keys go first: they depend on the keys.
    items.sort_by_key(|(_, _, _, kind)| kind != "f");
    for (tbl, name, def, kind) in &items {
        sqlx::query(
            "INSERT INTO seed.dropped_constraints (table_name, name, definition, kind)
             VALUES ($1, $2, $3, $4::\"char\")",
        )
        .bind(tbl)
        .bind(name)
        .bind(def)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
        let ddl = if kind == "i" {
            format!("DROP INDEX {name}")
        } else {
            format!("ALTER TABLE {tbl} DROP CONSTRAINT {}", quote(name))
        };
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Rebuild whatever `seed.dropped_constraints` lists, exactly as it was defined: indexes and
/// keys table by table on `parallel` connections, then foreign keys.
pub async fn rebuild_indexes(url: &str, parallel: usize, memory: &str) -> anyhow::Result<()> {
    let mut conn = connect(url).await?;
    let rows = sqlx::query(
        "SELECT table_name, name, definition, kind::text AS kind FROM seed.dropped_constraints
         ORDER BY table_name, name",
    )
    .fetch_all(&mut conn)
    .await?;
    let ddl = |r: &sqlx::postgres::PgRow| -> String {
        let (tbl, name, def): (String, String, String) =
            (r.get("table_name"), r.get("name"), r.get("definition"));
        if r.get::<String, _>("kind") == "i" {
            def
        } else {
            format!("ALTER TABLE {tbl} ADD CONSTRAINT {} {def}", quote(&name))
        }
    };
    let mut by_table: Vec<(String, Vec<String>)> = Vec::new();
    let mut foreign = Vec::new();
    for r in &rows {
        if r.get::<String, _>("kind") == "f" {
            foreign.push(ddl(r));
            continue;
        }
        let tbl: String = r.get("table_name");
        match by_table.last_mut() {
            Some((t, v)) if *t == tbl => v.push(ddl(r)),
            _ => by_table.push((tbl, vec![ddl(r)])),
        }
    }
    // Builders pop from the end: biggest tables first, so the builders finish close together.
    by_table
        .sort_by_key(|(t, _)| std::cmp::Reverse(DEFERRED_INDEX_TABLES.iter().position(|d| d == t)));
    let queue = Arc::new(std::sync::Mutex::new(by_table));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..parallel.max(1) {
        let queue = queue.clone();
        let url = url.to_string();
        let memory = memory.to_string();
        workers.spawn(async move {
            let mut c = connect(&url).await?;
            // Sorted index builds want memory; the builds run side by side, one per core.
            // set_config takes the size as a parameter (SET cannot), and rejects a bad one.
            sqlx::query("SELECT set_config('maintenance_work_mem', $1, false)")
                .bind(&memory)
                .execute(&mut c)
                .await
                .with_context(|| format!("--index-memory {memory:?}"))?;
            sqlx::query("SET max_parallel_maintenance_workers = 0")
                .execute(&mut c)
                .await?;
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                let Some((_, stmts)) = next else { break };
                for s in stmts {
                    sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                        .execute(&mut c)
                        .await
                        .with_context(|| s.clone())?;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = workers.join_next().await {
        r??;
    }
    for s in foreign {
        sqlx::query(sqlx::AssertSqlSafe(s))
            .execute(&mut conn)
            .await?;
    }
    sqlx::query("DELETE FROM seed.dropped_constraints")
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// One COPY stream: header, every chunk the channel brings, trailer. `rows` counts what the
/// server has been sent.
pub async fn copy_stream(
    url: String,
    statement: String,
    mut rx: mpsc::Receiver<Rows>,
    rows: Arc<AtomicU64>,
) -> anyhow::Result<u64> {
    let mut conn = connect(&url).await?;
    let mut copy = conn
        .copy_in_raw(&statement)
        .await
        .with_context(|| statement.clone())?;
    copy.send(pgcopy::HEADER).await?;
    while let Some(chunk) = rx.recv().await {
        copy.send(chunk.buf.as_slice()).await?;
        rows.fetch_add(chunk.rows, Ordering::Relaxed);
    }
    copy.send(pgcopy::TRAILER).await?;
    let n = copy.finish().await.with_context(|| statement.clone())?;
    conn.close().await?;
    Ok(n)
}

/// COPY rows that are already in memory (the small tables).
pub async fn copy_all(
    conn: &mut PgConnection,
    statement: &str,
    chunks: Vec<Rows>,
) -> anyhow::Result<u64> {
    let mut copy = conn
        .copy_in_raw(statement)
        .await
        .with_context(|| statement.to_string())?;
    copy.send(pgcopy::HEADER).await?;
    for c in chunks {
        copy.send(c.buf.as_slice()).await?;
    }
    copy.send(pgcopy::TRAILER).await?;
    Ok(copy.finish().await?)
}
