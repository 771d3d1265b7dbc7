//! Failure counters in Redis (`<prefix>login_fail:<key>`): `INCR` + `EXPIRE` in one
//! transaction, so concurrent failures on several instances all count.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parley_kit::metrics_names as m;
use redis::aio::ConnectionManager;

use super::{CounterError, FailureCounter};

pub struct RedisCounter {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisCounter {
    pub fn new(redis: parley_kit::worker::Redis) -> Self {
        Self {
            conn: redis.conn,
            prefix: redis.prefix,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}login_fail:{}", self.prefix, key)
    }
}

impl FailureCounter for RedisCounter {
    fn failures<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u32, CounterError>> {
        Box::pin(async move {
            let started = Instant::now();
            let mut conn = self.conn.clone();
            let n: redis::RedisResult<Option<u32>> = redis::cmd("GET")
                .arg(self.key(key))
                .query_async(&mut conn)
                .await;
            metrics::histogram!(m::REDIS_SECONDS, "op" => "get")
                .record(started.elapsed().as_secs_f64());
            Ok(n?.unwrap_or(0))
        })
    }

    fn record<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<(), CounterError>> {
        Box::pin(async move {
            let started = Instant::now();
            let key = self.key(key);
            let mut conn = self.conn.clone();
            let r: redis::RedisResult<(i64, i64)> = redis::pipe()
                .atomic()
                .incr(&key, 1)
                .expire(&key, window.as_secs().max(1) as i64)
                .query_async(&mut conn)
                .await;
            metrics::histogram!(m::REDIS_SECONDS, "op" => "incr")
                .record(started.elapsed().as_secs_f64());
            r?;
            Ok(())
        })
    }

    fn clear<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CounterError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(self.key(key))
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
    }
}
