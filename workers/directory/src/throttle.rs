//! Failed-login throttling in Redis, shared by every directory instance. If Redis is down the
//! throttle fails open (logins still work) and says so in the logs and metrics.
//!
//! Failures are counted per account *and client address*: someone guessing a password from
//! one address is stopped after `max` failures in the window, while the account's owner, at
//! another address, still signs in (a lock per account let anyone lock anyone out). Guessing
//! spread over many addresses is slowed, not locked: past `ACCOUNT_SLOWDOWN_FACTOR × max`
//! failures of the account in the window, it takes one attempt per `SLOW_SECONDS` from all
//! addresses together. The edge also budgets sign-ins per address.

use std::time::Instant;

use parley_kit::metrics_names as m;
use redis::aio::ConnectionManager;

const WINDOW_SECONDS: i64 = 15 * 60;
const ACCOUNT_SLOWDOWN_FACTOR: u32 = 5;
const SLOW_SECONDS: u64 = 2;

/// Why a sign-in must wait, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// This address failed too often for this account.
    Address(u64),
    /// The account is under a distributed guessing attack.
    Account(u64),
}

pub struct Throttle {
    conn: ConnectionManager,
    prefix: String,
    max: u32,
}

impl Throttle {
    pub async fn connect(url: &str, prefix: &str, max: u32) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            max,
        })
    }

    /// Readiness check: Redis answers PING. The throttle fails open, so the directory keeps
    /// serving while this is false; readiness says the deployment is degraded.
    pub fn ready_check(&self, readiness: &parley_kit::ops::Readiness) {
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

    fn pair_key(&self, username_lower: &str, client: &str) -> String {
        format!("{}login_fail:{}:{}", self.prefix, username_lower, client)
    }

    fn account_key(&self, username_lower: &str) -> String {
        format!("{}login_fail_all:{}", self.prefix, username_lower)
    }

    /// Whether a sign-in for this account from this address must wait. Fails open.
    pub async fn wait(&self, username_lower: &str, client: &str) -> Option<Wait> {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let pair = self.pair_key(username_lower, client);
        let r: redis::RedisResult<(Option<u32>, i64, Option<u32>)> = redis::pipe()
            .get(&pair)
            .ttl(&pair)
            .get(self.account_key(username_lower))
            .query_async(&mut conn)
            .await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => "get")
            .record(started.elapsed().as_secs_f64());
        let (pair_failures, pair_ttl, account_failures) = match r {
            Ok(v) => v,
            Err(error) => {
                tracing::warn!(%error, "redis unavailable; login throttle open");
                return None;
            }
        };
        if pair_failures.unwrap_or(0) >= self.max {
            return Some(Wait::Address(pair_ttl.max(1) as u64));
        }
        if account_failures.unwrap_or(0) >= self.max.saturating_mul(ACCOUNT_SLOWDOWN_FACTOR) {
            // One attempt per SLOW_SECONDS for the account, whoever makes it.
            let slot: redis::RedisResult<Option<String>> = redis::cmd("SET")
                .arg(format!("{}login_slow:{}", self.prefix, username_lower))
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(SLOW_SECONDS)
                .query_async(&mut conn)
                .await;
            if matches!(slot, Ok(None)) {
                return Some(Wait::Account(SLOW_SECONDS));
            }
        }
        None
    }

    pub async fn record_failure(&self, username_lower: &str, client: &str) {
        let started = Instant::now();
        let pair = self.pair_key(username_lower, client);
        let account = self.account_key(username_lower);
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<(i64, i64, i64, i64)> = redis::pipe()
            .atomic()
            .incr(&pair, 1)
            .expire(&pair, WINDOW_SECONDS)
            .incr(&account, 1)
            .expire(&account, WINDOW_SECONDS)
            .query_async(&mut conn)
            .await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => "incr")
            .record(started.elapsed().as_secs_f64());
        if let Err(error) = r {
            tracing::warn!(%error, "redis unavailable; failed login not counted");
        }
    }

    /// A successful sign-in clears its address's count for the account; the account's total
    /// stays, so a guessing campaign elsewhere is still slowed.
    pub async fn clear(&self, username_lower: &str, client: &str) {
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<i64> = redis::cmd("DEL")
            .arg(self.pair_key(username_lower, client))
            .query_async(&mut conn)
            .await;
        if let Err(error) = r {
            tracing::warn!(%error, "redis unavailable; failed-login counter not cleared");
        }
    }
}
