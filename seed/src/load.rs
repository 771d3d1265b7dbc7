//! The seeding run: guard → plan → small tables → drop indexes → stream messages, events and
//! watermarks → rebuild indexes → analyse → record.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::{PasswordHasher, SaltString};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::Row;
use tokio::sync::mpsc;

use crate::generate::{self, Generated, Sinks};
use crate::pgcopy::Rows;
use crate::plan::Plan;
use crate::progress::{self, Progress};
use crate::text::Vocabulary;
use crate::{Options, SEED_PASSWORD, db, dist};

/// Chunks each COPY stream may have queued: with 1 MiB chunks, a few MiB per stream.
const QUEUE_CHUNKS: usize = 4;

#[derive(Debug, Default)]
pub struct Report {
    pub preset: &'static str,
    pub seed: u64,
    pub until: String,
    pub users: u64,
    pub conversations: u64,
    pub members: u64,
    pub messages: u64,
    pub watermarks: u64,
    pub expected_unread: u64,
    pub phases: Vec<(&'static str, Duration)>,
    pub total: Duration,
    pub database_bytes: i64,
    pub schema_bytes: Vec<(String, i64)>,
    /// (sample messages, seconds) of the raw COPY into unindexed tables.
    pub raw_copy: Option<(u64, Duration)>,
}

impl Report {
    pub fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.total.as_secs_f64().max(1e-9)
    }

    pub fn raw_messages_per_sec(&self) -> Option<f64> {
        self.raw_copy
            .map(|(n, d)| n as f64 / d.as_secs_f64().max(1e-9))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seeded preset {} (seed {}, window ending {}): {} users, {} conversations, {} members, {} messages (+ as many events), {} watermarks",
            self.preset,
            self.seed,
            self.until,
            self.users,
            self.conversations,
            self.members,
            self.messages,
            self.watermarks
        )?;
        for (name, d) in &self.phases {
            writeln!(f, "  {name:<28} {:>9.1} s", d.as_secs_f64())?;
        }
        writeln!(
            f,
            "  {:<28} {:>9.1} s  → {} messages/s ({} rows/s counting events)",
            "total",
            self.total.as_secs_f64(),
            progress::si(self.messages_per_sec()),
            progress::si(2.0 * self.messages_per_sec())
        )?;
        if let Some(raw) = self.raw_messages_per_sec() {
            let (n, d) = self.raw_copy.unwrap_or_default();
            writeln!(
                f,
                "  raw COPY of {n} messages (+events, watermarks) into unindexed tables: {:.1} s → {} messages/s; seeding = {:.2}× raw",
                d.as_secs_f64(),
                progress::si(raw),
                self.messages_per_sec() / raw
            )?;
        }
        writeln!(
            f,
            "  database size {:.2} GiB",
            self.database_bytes as f64 / (1u64 << 30) as f64
        )?;
        for (schema, bytes) in &self.schema_bytes {
            writeln!(
                f,
                "    {schema:<10} {:.2} GiB",
                *bytes as f64 / (1u64 << 30) as f64
            )?;
        }
        Ok(())
    }
}

pub async fn seed(opts: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut phases = Vec::new();
    let mut phase = Instant::now();
    let mut mark = |name: &'static str, phase: &mut Instant| {
        phases.push((name, phase.elapsed()));
        *phase = Instant::now();
    };
    let url = &opts.database_url;
    let size = opts.size();
    anyhow::ensure!(size.users >= 3, "need at least 3 users");
    anyhow::ensure!(
        size.messages >= size.conversations as u64,
        "need at least one message per conversation"
    );

    db::ensure_database(url).await?;
    db::migrate(url).await?;
    let mut conn = db::connect(url).await?;
    if let Some(what) = db::existing_data(&mut conn).await? {
        anyhow::ensure!(
            opts.force,
            "{what}; refusing to seed over it (--force empties the seeded tables and starts over)"
        );
        eprintln!("--force: {what}; emptying the seeded tables");
        db::truncate_all(&mut conn).await?;
    }
    // An interrupted run may have left keys dropped; the tables are empty now, so this is quick.
    db::rebuild_indexes(url, 1, &opts.index_memory).await?;
    mark("migrations and guard", &mut phase);

    let until = opts.until();
    let until_day = dist::unix_day(until);
    let seed = opts.seed;
    let (plan, hash) = tokio::task::spawn_blocking(move || {
        let plan = Plan::new(seed, size, dist::Clock::new(until_day, 365));
        (plan, password_hash(seed))
    })
    .await?;
    let hash = hash?;
    let plan = Arc::new(plan);
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO seed.seed_runs (seed, preset, users, conversations, messages, until_day)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(seed as i64)
    .bind(opts.preset.name())
    .bind(size.users as i64)
    .bind(size.conversations as i64)
    .bind(size.messages as i64)
    .bind(until)
    .fetch_one(&mut conn)
    .await?;
    mark("plan (users, conversations)", &mut phase);

    db::drop_indexes(&mut conn, &db::DEFERRED_INDEX_TABLES).await?;
    load_small_tables(&mut conn, &plan, &hash).await?;
    mark("directory + allocators", &mut phase);

    let generated = stream(
        opts,
        plan.clone(),
        Targets::STORE,
        plan.conversations.len(),
        plan.messages(),
    )
    .await?;
    mark("messages, events, watermarks", &mut phase);

    db::rebuild_indexes(url, opts.index_builders, &opts.index_memory).await?;
    mark("keys and indexes", &mut phase);

    sqlx::query(
        "ANALYZE directory.users, directory.conversations, directory.members, persist.conversations,
                 persist.messages, persist.events, receipts.watermarks",
    )
    .execute(&mut conn)
    .await?;
    mark("analyze", &mut phase);

    let total = started.elapsed();
    sqlx::query(
        "UPDATE seed.seed_runs SET finished_at = now(), seconds = $2, expected_unread = $3 WHERE id = $1",
    )
    .bind(run_id)
    .bind(total.as_secs_f64())
    .bind(generated.unread as i64)
    .execute(&mut conn)
    .await?;

    let (database_bytes, schema_bytes) = sizes(&mut conn).await?;
    Ok(Report {
        preset: opts.preset.name(),
        seed,
        until: until.to_string(),
        users: plan.users.len() as u64,
        conversations: plan.conversations.len() as u64,
        members: plan.members(),
        messages: generated.messages,
        watermarks: generated.watermarks,
        expected_unread: generated.unread,
        phases,
        total,
        database_bytes,
        schema_bytes,
        raw_copy: None,
    })
}

/// Argon2id with the directory's parameters (the crate defaults), computed once: hashing
/// 100,000 passwords one by one would take longer than loading 50M messages.
fn password_hash(seed: u64) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = ChaCha8Rng::seed_from_u64(seed ^ 0x5A17).random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2::Argon2::default()
        .hash_password(SEED_PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

/// Where the streamed rows go.
#[derive(Clone, Copy)]
struct Targets {
    messages: &'static str,
    events: &'static str,
    watermarks: &'static str,
}

impl Targets {
    const STORE: Targets = Targets {
        messages: "persist.messages",
        events: "persist.events",
        watermarks: "receipts.watermarks",
    };
    const SCRATCH: Targets = Targets {
        messages: "seed.scratch_messages",
        events: "seed.scratch_events",
        watermarks: "seed.scratch_watermarks",
    };
}

/// Generate the first `limit` conversations' messages, events and watermarks on generator
/// threads and COPY them on parallel streams.
async fn stream(
    opts: &Options,
    plan: Arc<Plan>,
    targets: Targets,
    limit: usize,
    messages: u64,
) -> anyhow::Result<Generated> {
    let copied = Arc::new(AtomicU64::new(0));
    let uncounted = Arc::new(AtomicU64::new(0));
    let copy =
        |table: &str, columns: &str| format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)");
    let mut writers = tokio::task::JoinSet::new();
    let mut message_txs = Vec::new();
    for _ in 0..opts.message_streams.max(1) {
        let (tx, rx) = mpsc::channel::<Rows>(QUEUE_CHUNKS);
        message_txs.push(tx);
        writers.spawn(db::copy_stream(
            opts.database_url.clone(),
            copy(targets.messages, generate::MESSAGE_COLUMNS),
            rx,
            copied.clone(),
        ));
    }
    let (events_tx, rx) = mpsc::channel::<Rows>(QUEUE_CHUNKS);
    writers.spawn(db::copy_stream(
        opts.database_url.clone(),
        copy(targets.events, generate::EVENT_COLUMNS),
        rx,
        uncounted.clone(),
    ));
    let (watermarks_tx, rx) = mpsc::channel::<Rows>(QUEUE_CHUNKS);
    writers.spawn(db::copy_stream(
        opts.database_url.clone(),
        copy(targets.watermarks, generate::WATERMARK_COLUMNS),
        rx,
        uncounted.clone(),
    ));

    let vocab = Arc::new(Vocabulary::new());
    let stop = Arc::new(AtomicBool::new(false));
    let parts = opts.generators.max(1);
    let mut generators = Vec::new();
    for part in 0..parts {
        let sinks = Sinks {
            messages: message_txs.clone(),
            events: events_tx.clone(),
            watermarks: watermarks_tx.clone(),
        };
        let (plan, vocab, stop) = (plan.clone(), vocab.clone(), stop.clone());
        generators.push(tokio::task::spawn_blocking(move || {
            generate::run(&plan, &vocab, part, parts, limit, sinks, &stop)
        }));
    }
    // Only the generators hold senders now: the streams end when the generators do.
    drop((message_txs, events_tx, watermarks_tx));

    let progress = Progress::start("messages", copied, messages, opts.progress_every());
    let mut first_error: Option<anyhow::Error> = None;
    while let Some(r) = writers.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r.map(|_| ())) {
            // A failed writer closes its channel; stop the generators rather than let the
            // other streams commit a partial load quietly.
            stop.store(true, Ordering::Relaxed);
            first_error.get_or_insert(e);
        }
    }
    let mut total = Generated::default();
    for g in generators {
        match g.await? {
            Ok(part) => total += part,
            Err(generate::Closed) => {
                first_error.get_or_insert_with(|| anyhow::anyhow!("a COPY stream closed early"));
            }
        }
    }
    progress.finish().await;
    match first_error {
        Some(e) => Err(e.context("streaming messages")),
        None => Ok(total),
    }
}

/// Users, conversations, members and both seq allocators: small enough to encode in memory.
async fn load_small_tables(
    conn: &mut sqlx::PgConnection,
    plan: &Plan,
    hash: &str,
) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0xD1_5EC7);
    let mut chunks = Chunks::default();
    for i in 0..plan.users.len() as u32 {
        let u = &plan.users[i as usize];
        let name = plan.username(i);
        let r = chunks.row(9);
        r.uuid(&u.id)
            .text(&name)
            .text(&name)
            .text(&plan.display_name(i));
        if rng.random_bool(0.3) {
            r.text(&format!(
                "https://avatars.parley.example/{}.png",
                u.id.simple()
            ));
        } else {
            r.null();
        }
        r.text(hash).ts(u.created_us).bool(rng.random_bool(0.9));
        r.text(match rng.random_range(0..100) {
            0..80 => "everyone",
            80..95 => "contacts",
            _ => "nobody",
        });
    }
    db::copy_all(
        conn,
        "COPY directory.users (id, username, username_lower, display_name, avatar_url, password_hash, created_at, read_receipts, presence_privacy) FROM STDIN (FORMAT binary)",
        chunks.take(),
    )
    .await?;

    let vocab = Vocabulary::new();
    for c in &plan.conversations {
        let creator = plan.users[c.members[0] as usize].id;
        let r = chunks.row(6);
        r.uuid(&c.id).text(if c.group { "group" } else { "direct" });
        if c.group {
            r.text(&vocab.group_name(&mut rng)).null();
        } else {
            let other = plan.users[c.members[1] as usize].id;
            let (lo, hi) = if creator < other {
                (creator, other)
            } else {
                (other, creator)
            };
            r.null().text(&format!("{lo}:{hi}"));
        }
        r.uuid(&creator).ts(c.created_us);
    }
    db::copy_all(
        conn,
        "COPY directory.conversations (id, kind, name, direct_key, created_by, created_at) FROM STDIN (FORMAT binary)",
        chunks.take(),
    )
    .await?;

    for c in &plan.conversations {
        for (j, &m) in c.members.iter().enumerate() {
            // Directory gives both people of a direct conversation the member role.
            let role = if c.group && j == 0 { "admin" } else { "member" };
            chunks
                .row(4)
                .uuid(&c.id)
                .uuid(&plan.users[m as usize].id)
                .text(role)
                .ts(c.created_us);
        }
    }
    db::copy_all(
        conn,
        "COPY directory.members (conversation_id, user_id, role, joined_at) FROM STDIN (FORMAT binary)",
        chunks.take(),
    )
    .await?;

    // Persist's allocator knows each conversation's last seq (receipts asks persist for it).
    for c in &plan.conversations {
        chunks.row(2).uuid(&c.id).i64(i64::from(c.len));
    }
    db::copy_all(
        conn,
        "COPY persist.conversations (conversation_id, last_seq) FROM STDIN (FORMAT binary)",
        chunks.take(),
    )
    .await?;
    Ok(())
}

/// Rows split into ~1 MiB chunks.
#[derive(Default)]
struct Chunks {
    done: Vec<Rows>,
    current: Rows,
}

impl Chunks {
    fn row(&mut self, fields: i16) -> &mut Rows {
        if self.current.buf.len() >= generate::CHUNK_BYTES {
            self.done.push(std::mem::take(&mut self.current));
        }
        self.current.row(fields)
    }

    fn take(&mut self) -> Vec<Rows> {
        let mut all = std::mem::take(&mut self.done);
        all.push(std::mem::take(&mut self.current));
        all
    }
}

async fn sizes(conn: &mut sqlx::PgConnection) -> anyhow::Result<(i64, Vec<(String, i64)>)> {
    let db: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query(
        "SELECT n.nspname::text AS schema, sum(pg_total_relation_size(c.oid))::bigint AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('directory', 'persist', 'receipts') AND c.relkind = 'r'
         GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((
        db,
        rows.iter()
            .map(|r| (r.get("schema"), r.get("bytes")))
            .collect(),
    ))
}

/// COPY the same rows as the seed (the first conversations, about `--measure-sample`
/// messages) into unindexed scratch tables, the ceiling any bulk load here can reach.
pub async fn measure_copy(opts: &Options, report: &mut Report) -> anyhow::Result<()> {
    let until: chrono::NaiveDate = report.until.parse()?;
    let until_day = dist::unix_day(until);
    let (seed, size) = (opts.seed, opts.size());
    let plan = Arc::new(
        tokio::task::spawn_blocking(move || {
            Plan::new(seed, size, dist::Clock::new(until_day, 365))
        })
        .await?,
    );
    let mut limit = plan.conversations.len();
    let mut sample = plan.messages();
    if opts.measure_sample > 0 && opts.measure_sample < sample {
        let mut acc = 0u64;
        limit = plan
            .conversations
            .iter()
            .position(|c| {
                acc += u64::from(c.len);
                acc >= opts.measure_sample
            })
            .map_or(limit, |i| i + 1);
        sample = acc;
    }
    let mut conn = db::connect(&opts.database_url).await?;
    let setup =
        "DROP TABLE IF EXISTS seed.scratch_messages, seed.scratch_events, seed.scratch_watermarks;
         CREATE TABLE seed.scratch_messages (LIKE persist.messages INCLUDING DEFAULTS);
         CREATE TABLE seed.scratch_events (LIKE persist.events INCLUDING DEFAULTS);
         CREATE TABLE seed.scratch_watermarks (LIKE receipts.watermarks INCLUDING DEFAULTS);";
    sqlx::raw_sql(setup).execute(&mut conn).await?;
    // Write out dirty pages first so the measurement does not pay for the seed's checkpoint.
    sqlx::query("CHECKPOINT")
        .execute(&mut conn)
        .await
        .context("CHECKPOINT")?;
    let started = Instant::now();
    let generated = stream(opts, plan, Targets::SCRATCH, limit, sample).await?;
    let took = started.elapsed();
    sqlx::raw_sql("DROP TABLE seed.scratch_messages, seed.scratch_events, seed.scratch_watermarks")
        .execute(&mut conn)
        .await?;
    report.raw_copy = Some((generated.messages, took));
    Ok(())
}
