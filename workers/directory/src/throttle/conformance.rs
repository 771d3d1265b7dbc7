//! The conformance suite of [`FailureCounter`]: the same checks against every backend. The
//! in-process one always runs; Redis runs when `PARLEY_TEST_REDIS_URL` (else `PARLEY_REDIS_URL`,
//! else the local default) answers, and says why it was skipped when none does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{FailureCounter, MemoryCounter, RedisCounter};

/// Run every check on fresh backends from `make` (each starts with no counters).
pub async fn conformance<B, F, Fut>(make: F)
where
    B: FailureCounter,
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
{
    counts_per_key_and_clears(make().await).await;
    the_window_restarts_with_each_failure(make().await).await;
    concurrent_failures_all_count(Arc::new(make().await)).await;
}

async fn counts_per_key_and_clears(b: impl FailureCounter) {
    let long = Duration::from_secs(60);
    assert_eq!(b.failures("alice").await.ok(), Some(0), "unknown key");
    for _ in 0..3 {
        b.record("alice", long).await.expect("record");
    }
    b.record("bob", long).await.expect("record");
    assert_eq!(b.failures("alice").await.ok(), Some(3));
    assert_eq!(b.failures("bob").await.ok(), Some(1), "keys are apart");
    b.clear("alice").await.expect("clear");
    assert_eq!(b.failures("alice").await.ok(), Some(0), "cleared");
    assert_eq!(
        b.failures("bob").await.ok(),
        Some(1),
        "only the cleared key"
    );
    b.clear("nobody")
        .await
        .expect("clearing an unknown key is fine");
}

async fn the_window_restarts_with_each_failure(b: impl FailureCounter) {
    let window = Duration::from_secs(2);
    b.record("carol", window).await.expect("record");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    b.record("carol", window).await.expect("record");
    // Past the first failure's window, within the second's.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(b.failures("carol").await.ok(), Some(2), "window restarted");
    // Past the second's.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(b.failures("carol").await.ok(), Some(0), "window passed");
    b.record("carol", window).await.expect("record");
    assert_eq!(b.failures("carol").await.ok(), Some(1), "a new window");
}

async fn concurrent_failures_all_count(b: Arc<impl FailureCounter>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { b.record("dave", Duration::from_secs(60)).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("record");
    }
    assert_eq!(b.failures("dave").await.ok(), Some(20));
}

#[tokio::test]
async fn memory_backend_conforms() {
    conformance(|| async { MemoryCounter::new(1_000) }).await;
}

#[tokio::test]
async fn redis_backend_conforms() {
    let url = std::env::var("PARLEY_TEST_REDIS_URL")
        .or_else(|_| std::env::var("PARLEY_REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("test:throttle:{}:", uuid::Uuid::now_v7().simple());
    let args = parley_kit::args::RedisArgs {
        redis_url: url.clone(),
        redis_prefix: prefix.clone(),
    };
    let connect = || {
        tokio::time::timeout(
            Duration::from_secs(3),
            parley_kit::worker::Redis::connect(&args),
        )
    };
    let redis = match connect().await {
        Ok(Ok(redis)) => redis,
        Ok(Err(error)) => {
            eprintln!(
                "SKIPPED redis_backend_conforms: no Redis at {url} ({error}); set PARLEY_TEST_REDIS_URL"
            );
            return;
        }
        Err(_) => {
            eprintln!(
                "SKIPPED redis_backend_conforms: Redis at {url} did not answer; set PARLEY_TEST_REDIS_URL"
            );
            return;
        }
    };
    // Each backend gets keys of its own under the test's prefix.
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance(|| {
        let mut r = redis.clone();
        r.prefix = format!(
            "{prefix}{}:",
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        async move { RedisCounter::new(r) }
    })
    .await;
    let mut conn = redis.conn.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}
