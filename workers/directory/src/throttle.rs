//! Failed-login throttling in Redis, shared by every directory instance. If Redis is down the
//! throttle fails open (logins still work) and says so in the logs and metrics.

use std::time::Instant;

use parley_kit::metrics_names as m;
use redis::aio::ConnectionManager;

const WINDOW_SECONDS: i64 = 15 * 60;

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

    fn key(&self, username_lower: &str) -> String {
        format!("{}login_fail:{}", self.prefix, username_lower)
    }

    /// True when this username has used up its failed attempts.
    pub async fn is_blocked(&self, username_lower: &str) -> bool {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<Option<u32>> = redis::cmd("GET")
            .arg(self.key(username_lower))
            .query_async(&mut conn)
            .await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => "get")
            .record(started.elapsed().as_secs_f64());
        match r {
            Ok(n) => n.unwrap_or(0) >= self.max,
            Err(error) => {
                tracing::warn!(%error, "redis unavailable; login throttle open");
                false
            }
        }
    }

    pub async fn record_failure(&self, username_lower: &str) {
        let started = Instant::now();
        let key = self.key(username_lower);
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<(i64, i64)> = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, WINDOW_SECONDS)
            .query_async(&mut conn)
            .await;
        metrics::histogram!(m::REDIS_SECONDS, "op" => "incr")
            .record(started.elapsed().as_secs_f64());
        if let Err(error) = r {
            tracing::warn!(%error, "redis unavailable; failed login not counted");
        }
    }

    pub async fn clear(&self, username_lower: &str) {
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<i64> = redis::cmd("DEL")
            .arg(self.key(username_lower))
            .query_async(&mut conn)
            .await;
        if let Err(error) = r {
            tracing::warn!(%error, "redis unavailable; failed-login counter not cleared");
        }
    }
}
