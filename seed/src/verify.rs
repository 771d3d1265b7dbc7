//! The invariants a seeded database keeps, checked with SQL across the three schemas, and the
//! statistics that show the distributions came out as intended.

use std::fmt;

use sqlx::{Connection, PgConnection, Row};

/// Each check counts the rows that break an invariant; all must be zero.
const CHECKS: &[(&str, &str)] = &[
    (
        "seqs are 1..n per conversation and n = persist last_seq",
        "SELECT count(*) FROM (SELECT conversation_id, count(*) AS n, min(seq) AS lo, max(seq) AS hi
                               FROM persist.messages GROUP BY 1) m
         FULL JOIN persist.conversations c USING (conversation_id)
         WHERE m.n IS DISTINCT FROM c.last_seq OR m.lo <> 1 OR m.hi <> c.last_seq",
    ),
    (
        "one message.created event per message, same seq, id, sender, time",
        "SELECT count(*) FROM persist.events e FULL JOIN persist.messages m ON m.id = e.message_id
         WHERE e.seq IS DISTINCT FROM m.seq OR e.conversation_id IS DISTINCT FROM m.conversation_id
            OR e.kind IS DISTINCT FROM 'message.created' OR e.command_id IS DISTINCT FROM m.id
            OR e.actor_id IS DISTINCT FROM m.sender_id OR e.created_at IS DISTINCT FROM m.created_at",
    ),
    (
        "every directory conversation has messages, and only those",
        "SELECT count(*) FROM directory.conversations d FULL JOIN persist.conversations p ON p.conversation_id = d.id
         WHERE d.id IS NULL OR p.conversation_id IS NULL",
    ),
    (
        "messages are in time order within a conversation",
        "SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (PARTITION BY conversation_id ORDER BY seq) AS back
                               FROM persist.messages) x WHERE back",
    ),
    (
        "senders are members",
        "SELECT count(*) FROM persist.messages m
         WHERE NOT EXISTS (SELECT 1 FROM directory.members b
                           WHERE b.conversation_id = m.conversation_id AND b.user_id = m.sender_id)",
    ),
    (
        "one watermark per member, 0 ≤ read ≤ delivered ≤ last_seq",
        "SELECT count(*) FROM receipts.watermarks w
         FULL JOIN directory.members b ON (b.conversation_id, b.user_id) = (w.conversation_id, w.user_id)
         LEFT JOIN persist.conversations c ON c.conversation_id = w.conversation_id
         WHERE w.user_id IS NULL OR b.user_id IS NULL OR c.conversation_id IS NULL
            OR w.read_seq < 0 OR w.read_seq > w.delivered_seq OR w.delivered_seq > c.last_seq",
    ),
    (
        "a member has read up to their own last message",
        "SELECT count(*) FROM receipts.watermarks w
         JOIN LATERAL (SELECT max(seq) AS own FROM persist.messages m
                       WHERE m.conversation_id = w.conversation_id AND m.sender_id = w.user_id) o ON true
         WHERE o.own > w.read_seq",
    ),
    (
        "direct: two members, key = lo:hi; group: 3–100 members, creator is the one admin",
        "SELECT count(*) FROM directory.conversations c
         JOIN LATERAL (SELECT count(*) AS n, min(user_id::text) AS lo, max(user_id::text) AS hi,
                              count(*) FILTER (WHERE role = 'admin') AS admins,
                              bool_or(role = 'admin' AND user_id = c.created_by) AS creator_admin,
                              bool_or(user_id = c.created_by) AS creator_member
                       FROM directory.members m WHERE m.conversation_id = c.id) m ON true
         WHERE NOT CASE c.kind
             WHEN 'direct' THEN m.n = 2 AND c.direct_key = m.lo || ':' || m.hi AND m.admins = 0 AND m.creator_member AND c.name IS NULL
             ELSE m.n BETWEEN 3 AND 100 AND m.admins = 1 AND m.creator_admin AND c.direct_key IS NULL AND c.name IS NOT NULL END",
    ),
    (
        "unread counts: Σ messages from others after read_seq = generated count",
        "SELECT count(*) FROM (SELECT (SELECT expected_unread FROM seed.seed_runs ORDER BY id DESC LIMIT 1) AS want,
                                      (SELECT count(*) FROM receipts.watermarks w JOIN persist.messages m
                                         ON m.conversation_id = w.conversation_id AND m.seq > w.read_seq
                                        AND m.sender_id <> w.user_id) AS got) x
         WHERE want IS DISTINCT FROM got",
    ),
    (
        "seed runs finished and no index left dropped",
        "SELECT (SELECT count(*) FROM seed.seed_runs WHERE finished_at IS NULL)
              + (SELECT count(*) FROM seed.dropped_constraints)",
    ),
];

#[derive(Debug, Default)]
pub struct Verification {
    pub checks: Vec<(&'static str, i64)>,
    pub stats: Stats,
}

/// What the data looks like.
#[derive(Debug, Default)]
pub struct Stats {
    pub messages: i64,
    /// Share of messages sent 09:00–23:00 UTC.
    pub daytime_share: f64,
    /// Share of messages sent Monday–Friday.
    pub weekday_share: f64,
    /// Share of messages sent by the most active fifth of users.
    pub top_fifth_share: f64,
    pub length_p50: f64,
    pub length_p90: f64,
    pub length_max: i64,
    pub under_100_share: f64,
    pub media_share: f64,
    pub reply_share: f64,
    pub group_share: f64,
    pub unread: i64,
}

impl Verification {
    pub fn violations(&self) -> Vec<(&'static str, i64)> {
        self.checks
            .iter()
            .copied()
            .filter(|(_, n)| *n != 0)
            .collect()
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, n) in &self.checks {
            writeln!(
                f,
                "  {} {name}{}",
                if *n == 0 { "ok  " } else { "FAIL" },
                if *n == 0 {
                    String::new()
                } else {
                    format!(" ({n} rows)")
                }
            )?;
        }
        let s = &self.stats;
        writeln!(
            f,
            "  {} messages · 09–23h {:.1}% · weekdays {:.1}% · top-20% senders {:.1}% · conversation length p50 {} p90 {} max {} · <100 msgs {:.1}% · groups {:.1}% · media {:.1}% · replies {:.1}% · unread {}",
            s.messages,
            100.0 * s.daytime_share,
            100.0 * s.weekday_share,
            100.0 * s.top_fifth_share,
            s.length_p50,
            s.length_p90,
            s.length_max,
            100.0 * s.under_100_share,
            100.0 * s.group_share,
            100.0 * s.media_share,
            100.0 * s.reply_share,
            s.unread
        )
    }
}

pub async fn verify(url: &str) -> anyhow::Result<Verification> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("SET work_mem = '256MB'")
        .execute(&mut conn)
        .await?;
    let mut checks = Vec::new();
    for (name, sql) in CHECKS {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(*sql))
            .fetch_one(&mut conn)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        checks.push((*name, n));
    }
    let r = sqlx::query(
        "SELECT count(*) AS messages,
                avg((extract(hour FROM created_at AT TIME ZONE 'UTC') BETWEEN 9 AND 22)::int)::float8 AS daytime,
                avg((extract(isodow FROM created_at AT TIME ZONE 'UTC') <= 5)::int)::float8 AS weekday,
                avg((body LIKE '%https://media.parley.example/%')::int)::float8 AS media,
                avg((reply_to IS NOT NULL)::int)::float8 AS replies
         FROM persist.messages",
    )
    .fetch_one(&mut conn)
    .await?;
    let top: f64 = sqlx::query_scalar(
        "SELECT (sum(n) FILTER (WHERE rank <= (SELECT count(*) FROM directory.users) / 5))::float8 / sum(n)
         FROM (SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rank
               FROM persist.messages GROUP BY sender_id) x",
    )
    .fetch_one(&mut conn)
    .await?;
    let l = sqlx::query(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY last_seq) AS p50,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY last_seq) AS p90,
                max(last_seq) AS max, avg((last_seq < 100)::int)::float8 AS under_100
         FROM persist.conversations",
    )
    .fetch_one(&mut conn)
    .await?;
    let groups: f64 = sqlx::query_scalar(
        "SELECT avg((kind = 'group')::int)::float8 FROM directory.conversations",
    )
    .fetch_one(&mut conn)
    .await?;
    let unread: i64 = sqlx::query_scalar(
        "SELECT coalesce(expected_unread, 0) FROM seed.seed_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&mut conn)
    .await?
    .unwrap_or(0);
    Ok(Verification {
        checks,
        stats: Stats {
            messages: r.get("messages"),
            daytime_share: r.get::<Option<f64>, _>("daytime").unwrap_or(0.0),
            weekday_share: r.get::<Option<f64>, _>("weekday").unwrap_or(0.0),
            top_fifth_share: top,
            length_p50: l.get::<Option<f64>, _>("p50").unwrap_or(0.0),
            length_p90: l.get::<Option<f64>, _>("p90").unwrap_or(0.0),
            length_max: l.get::<Option<i64>, _>("max").unwrap_or(0),
            under_100_share: l.get::<Option<f64>, _>("under_100").unwrap_or(0.0),
            media_share: r.get::<Option<f64>, _>("media").unwrap_or(0.0),
            reply_share: r.get::<Option<f64>, _>("replies").unwrap_or(0.0),
            group_share: groups,
            unread,
        },
    })
}

/// A digest of everything seeded (every column of every seeded row, in key order): equal
/// digests mean equal data. A full scan; meant for the small preset.
pub async fn checksum(url: &str) -> anyhow::Result<String> {
    let mut conn = PgConnection::connect(url).await?;
    let digest: String = sqlx::query_scalar(
        "SELECT md5(string_agg(part, ',' ORDER BY k)) FROM (
            SELECT 1 AS k, (SELECT md5(string_agg(u::text, '' ORDER BY id)) FROM directory.users u) AS part
            UNION ALL SELECT 2, (SELECT md5(string_agg(c::text, '' ORDER BY id)) FROM directory.conversations c)
            UNION ALL SELECT 3, (SELECT md5(string_agg(m::text, '' ORDER BY conversation_id, user_id)) FROM directory.members m)
            UNION ALL SELECT 4, (SELECT md5(string_agg(m::text, '' ORDER BY conversation_id, seq)) FROM persist.messages m)
            UNION ALL SELECT 5, (SELECT md5(string_agg(e::text, '' ORDER BY conversation_id, seq)) FROM persist.events e)
            UNION ALL SELECT 6, (SELECT md5(string_agg(w::text, '' ORDER BY conversation_id, user_id)) FROM receipts.watermarks w)
         ) x",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok(digest)
}
