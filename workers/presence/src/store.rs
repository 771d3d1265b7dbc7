//! Presence state in Redis. Every change runs `apply.lua`, so each instance's read-modify-write
//! is atomic and a change of what others see is reported to exactly one caller.
//!
//! Keys, all under the configured prefix: `presence:conns:<user>` (live connections by expiry),
//! `presence:state:<user>` (chosen and shown status, last seen, transition version),
//! `presence:gone:<user>` (recently closed connections), `presence:published:<user>` (stream
//! position of the user's latest event) and `presence:due` (user → earliest
//! connection expiry, what the sweepers scan).

use std::time::Instant;

use chrono::{DateTime, Utc};
use parley_contracts::api::PresenceStatus;
use parley_contracts::events::{PresenceAction, PresenceCommand};
use parley_kit::metrics_names as m;
use redis::aio::ConnectionManager;
use uuid::Uuid;

/// How long a closed connection's id is remembered, so that a heartbeat it sent before closing,
/// handled after the disconnect, does not revive it.
const TOMBSTONE_MS: u64 = 60_000;
/// How long the stream position of a user's last event is remembered: publishes cross only
/// within milliseconds, and forgetting it lets a recreated stream (sequences from 1) be trusted.
const PUBLISHED_TTL_MS: u64 = 10 * 60 * 1000;
/// Bounds on the edge-supplied TTL: a zero TTL would never count as alive, a huge one would
/// keep a crashed edge's users online for hours.
const MIN_TTL_SECONDS: u64 = 1;
const MAX_TTL_SECONDS: u64 = 3_600;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected script reply: {0}")]
    Reply(&'static str),
}

/// The state of a user after a change, and whether what others see changed with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub user: Uuid,
    pub changed: bool,
    pub shown: PresenceStatus,
    pub last_seen: Option<DateTime<Utc>>,
    /// Redis' clock when the change was applied.
    pub at: DateTime<Utc>,
    /// Counts the user's transitions; with `at` it names one transition (the `Nats-Msg-Id`).
    pub version: u64,
}

#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    prefix: String,
    apply: std::sync::Arc<redis::Script>,
    due: std::sync::Arc<redis::Script>,
    record: std::sync::Arc<redis::Script>,
}

impl Store {
    pub fn new(redis: parley_kit::worker::Redis) -> Self {
        Self {
            conn: redis.conn,
            prefix: redis.prefix,
            apply: std::sync::Arc::new(redis::Script::new(include_str!("apply.lua"))),
            due: std::sync::Arc::new(redis::Script::new(DUE_LUA)),
            record: std::sync::Arc::new(redis::Script::new(include_str!("record.lua"))),
        }
    }

    fn key(&self, kind: &str, user: Uuid) -> String {
        format!("{}presence:{kind}:{user}", self.prefix)
    }

    fn due_key(&self) -> String {
        format!("{}presence:due", self.prefix)
    }

    /// Apply one edge command.
    pub async fn apply(&self, cmd: &PresenceCommand) -> Result<Outcome, StoreError> {
        let (mode, status) = match (cmd.action, cmd.status) {
            (PresenceAction::Connect, _) => ("connect", ""),
            (PresenceAction::Heartbeat, _) => ("heartbeat", ""),
            (PresenceAction::Disconnect, _) => ("disconnect", ""),
            (PresenceAction::Set, Some(s)) => ("set", s.as_str()),
            // A `set` without a status still proves the connection is alive.
            (PresenceAction::Set, None) => ("heartbeat", ""),
        };
        let ttl_ms = cmd.ttl_seconds.clamp(MIN_TTL_SECONDS, MAX_TTL_SECONDS) * 1000;
        self.run(
            "apply",
            cmd.user_id,
            mode,
            &cmd.connection_id.to_string(),
            ttl_ms,
            status,
            cmd.at.timestamp_millis(),
        )
        .await
    }

    /// Drop the user's expired connections and recompute.
    pub async fn sweep(&self, user: Uuid) -> Result<Outcome, StoreError> {
        self.run("sweep", user, "sweep", "", 0, "", 0).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        op: &'static str,
        user: Uuid,
        mode: &str,
        connection: &str,
        ttl_ms: u64,
        status: &str,
        at_ms: i64,
    ) -> Result<Outcome, StoreError> {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let reply: redis::RedisResult<(i64, String, String, i64, i64)> = self
            .apply
            .key(self.key("conns", user))
            .key(self.key("state", user))
            .key(self.key("gone", user))
            .key(self.due_key())
            .arg(mode)
            .arg(user.to_string())
            .arg(connection)
            .arg(ttl_ms)
            .arg(status)
            .arg(at_ms)
            .arg(TOMBSTONE_MS)
            .invoke_async(&mut conn)
            .await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => op).record(started.elapsed().as_secs_f64());
        let (changed, shown, last_seen, now, version) = reply?;
        Ok(Outcome {
            user,
            changed: changed == 1,
            shown: parse_shown(&shown)?,
            last_seen: parse_millis(&last_seen),
            at: DateTime::from_timestamp_millis(now).ok_or(StoreError::Reply("time"))?,
            version: u64::try_from(version).map_err(|_| StoreError::Reply("version"))?,
        })
    }

    /// Users with a connection whose expiry has passed, at most `limit`.
    pub async fn due(&self, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let members: redis::RedisResult<Vec<String>> = self
            .due
            .key(self.due_key())
            .arg(limit)
            .invoke_async(&mut conn)
            .await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => "due")
            .record(started.elapsed().as_secs_f64());
        let mut users = Vec::new();
        for member in members? {
            match Uuid::parse_str(&member) {
                Ok(u) => users.push(u),
                Err(_) => {
                    // Only this worker writes the set; drop a foreign member so it cannot pin
                    // a slot of every batch.
                    tracing::warn!(member, "malformed member in presence due set; removed");
                    let _: redis::RedisResult<i64> = redis::cmd("ZREM")
                        .arg(self.due_key())
                        .arg(&member)
                        .query_async(&mut conn)
                        .await;
                }
            }
        }
        Ok(users)
    }

    /// What others see of each user now, in the order asked. A user never seen is offline.
    pub async fn get(
        &self,
        users: &[Uuid],
    ) -> Result<Vec<(PresenceStatus, Option<DateTime<Utc>>)>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let mut pipe = redis::pipe();
        for user in users {
            pipe.cmd("HMGET")
                .arg(self.key("state", *user))
                .arg("shown")
                .arg("last_seen");
        }
        let mut conn = self.conn.clone();
        let rows: redis::RedisResult<Vec<(Option<String>, Option<String>)>> =
            pipe.query_async(&mut conn).await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => "get")
            .record(started.elapsed().as_secs_f64());
        Ok(rows?
            .into_iter()
            .map(|(shown, last_seen)| {
                (
                    shown
                        .as_deref()
                        .map_or(PresenceStatus::Offline, PresenceStatus::parse),
                    last_seen.as_deref().and_then(parse_millis),
                )
            })
            .collect())
    }

    /// Note that the event of transition `version` was stored at stream sequence `seq`. When
    /// the user's latest event in the stream is now older than one already published (two
    /// instances' publishes of one user crossed), returns the current state to publish again,
    /// so that the last word in the stream is always the current one.
    pub async fn record_published(
        &self,
        user: Uuid,
        seq: u64,
        version: u64,
    ) -> Result<Option<Outcome>, StoreError> {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let reply: redis::RedisResult<(i64, String, String, i64, i64)> = self
            .record
            .key(self.key("published", user))
            .key(self.key("state", user))
            .arg(seq)
            .arg(version)
            .arg(PUBLISHED_TTL_MS)
            .invoke_async(&mut conn)
            .await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => "record")
            .record(started.elapsed().as_secs_f64());
        let (stale, shown, last_seen, now, version) = reply?;
        if stale == 0 {
            return Ok(None);
        }
        Ok(Some(Outcome {
            user,
            changed: true,
            shown: parse_shown(&shown)?,
            last_seen: parse_millis(&last_seen),
            at: DateTime::from_timestamp_millis(now).ok_or(StoreError::Reply("time"))?,
            version: u64::try_from(version).map_err(|_| StoreError::Reply("version"))?,
        }))
    }
}

/// The due scan in Redis so that "now" is Redis' clock, as in `apply.lua`.
const DUE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
";

fn parse_shown(s: &str) -> Result<PresenceStatus, StoreError> {
    match s {
        "online" => Ok(PresenceStatus::Online),
        "away" => Ok(PresenceStatus::Away),
        "busy" => Ok(PresenceStatus::Busy),
        "offline" => Ok(PresenceStatus::Offline),
        _ => Err(StoreError::Reply("shown status")),
    }
}

fn parse_millis(s: &str) -> Option<DateTime<Utc>> {
    s.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_parse_and_reject() {
        assert_eq!(
            parse_millis("1700000000123").map(|d| d.timestamp_millis()),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_millis(""), None);
        assert_eq!(parse_millis("soon"), None);
    }

    #[test]
    fn shown_never_invisible() {
        assert!(parse_shown("invisible").is_err());
        assert_eq!(parse_shown("away").ok(), Some(PresenceStatus::Away));
    }
}
