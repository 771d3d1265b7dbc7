//! Failed-login throttling in Redis, shared by every directory instance. If Redis is down the
//! throttle fails open (logins still work) and says so in the logs and metrics (and `/readyz`,
//! whose Redis check the kit registers, says the deployment is degraded).

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
    pub fn new(redis: parley_kit::worker::Redis, max: u32) -> Self {
        Self {
            conn: redis.conn,
            prefix: redis.prefix,
            max,
        }
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
