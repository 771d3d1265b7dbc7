//! Lifecycle under outages, black-box: when NATS, Postgres or Redis goes away every binary that
//! depends on it reports not ready, answers `unavailable` instead of hanging or exiting, and
//! serves again once the dependency is back. Trace ids follow a request into a worker's logs.

use std::time::Duration;

use anyhow::ensure;
use parley_testkit::Worker::{Directory, Persist, Presence, Receipts};
use parley_testkit::{Api, Proc, Stack, TcpProxy, Worker, Ws, await_readyz, redis_url};
use serde_json::{Value, json};
use uuid::Uuid;

const DOWN: Duration = Duration::from_secs(10);
const UP: Duration = Duration::from_secs(30);

fn ops_of(p: &Proc) -> String {
    format!("http://{}", p.addrs["ops"])
}

/// Send with one id until the edge acks it: what a client does while the fabric is degraded.
async fn send_until_acked(ws: &mut Ws, conv: Uuid, body: &str) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let frame = json!({"type": "message:send", "id": id, "conversationId": conv, "body": body});
    let deadline = tokio::time::Instant::now() + UP;
    loop {
        ws.send(frame.clone()).await?;
        let v = ws
            .recv_until(|v| {
                (v["type"] == "ack" || v["type"] == "error") && v["ref"] == id.to_string()
            })
            .await?;
        if v["type"] == "ack" {
            return Ok(id);
        }
        ensure!(
            v["code"] == "unavailable",
            "only unavailable while degraded: {v}"
        );
        ensure!(tokio::time::Instant::now() < deadline, "never acked: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The ids of the stored messages of `conv` (one page is enough here).
async fn stored(api: &Api, token: &str, conv: Uuid) -> anyhow::Result<(u16, Vec<String>)> {
    let (status, page) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages"),
            Some(token),
            None,
        )
        .await?;
    let ids = page["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Ok((status, ids))
}

async fn eventually_stored(api: &Api, token: &str, conv: Uuid, id: Uuid) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + UP;
    loop {
        if let Ok((200, ids)) = stored(api, token, conv).await
            && ids.contains(&id.to_string())
        {
            return Ok(());
        }
        ensure!(tokio::time::Instant::now() < deadline, "{id} never stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_outage_turns_every_binary_unready_and_the_edge_answers_503() -> anyhow::Result<()> {
    let mut stack = Stack::with(&Worker::ALL).start().await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    send_until_acked(&mut a, conv, "before").await?;
    b.recv_until(|v| v["type"] == "message:new").await?;
    let mut bases = vec![stack.edge_url(0)];
    bases.extend(stack.workers.values().map(ops_of));

    stack.nats.stop();
    for base in &bases {
        let body = await_readyz(base, false, DOWN).await?;
        assert!(body.contains("nats"), "{base}: {body}");
    }
    // The edge refuses at once with a clear, retryable error instead of waiting on a timeout.
    let started = std::time::Instant::now();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/conversations", stack.edge_url(0)))
        .bearer_auth(&alice.token)
        .send()
        .await?;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await?;
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    stack.nats.resume()?;
    for base in &bases {
        await_readyz(base, true, UP).await?;
    }
    // The same sockets work again: commands are accepted, stored and delivered.
    let id = send_until_acked(&mut a, conv, "after").await?;
    b.recv_until(|v| v["type"] == "message:new" && v["message"]["id"] == id.to_string())
        .await?;
    let (status, _) = api
        .call("GET", "/conversations", Some(&alice.token), None)
        .await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_and_killed_connections_degrade_and_recover() -> anyhow::Result<()> {
    // The workers that own a schema run behind a proxy the test cuts.
    let stack = Stack::with(&[]).start().await?;
    let proxy = TcpProxy::start(&stack.db.url).await?;
    let via = vec![("PARLEY_DATABASE_URL".to_string(), proxy.url(&stack.db.url))];
    let mut workers = Vec::new();
    for w in [Directory, Persist, Receipts] {
        workers.push(stack.spawn_worker_with(w, &via)?);
    }
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let first = send_until_acked(&mut a, conv, "first").await?;
    eventually_stored(&api, &bob.token, conv, first).await?;

    // Every pooled connection is killed server-side: the pools reconnect, nothing exits.
    let mut admin =
        <parley_testkit::sqlx::PgConnection as parley_testkit::sqlx::Connection>::connect(
            &stack.db.url,
        )
        .await?;
    parley_testkit::sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .await?;
    drop(admin);
    let second = send_until_acked(&mut a, conv, "second").await?;
    eventually_stored(&api, &bob.token, conv, second).await?;

    // Postgres unreachable: not ready, history answers 503 unavailable, sends are still
    // accepted (JetStream holds them) and stored once Postgres is back.
    proxy.cut();
    for p in &workers {
        let body = await_readyz(&ops_of(p), false, DOWN).await?;
        assert!(body.contains("postgres"), "{}: {body}", p.name);
    }
    let (status, page) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages"),
            Some(&bob.token),
            None,
        )
        .await?;
    assert_eq!(status, 503, "{page}");
    assert_eq!(page["code"], "unavailable");
    let during = send_until_acked(&mut a, conv, "during the outage").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    for p in &workers {
        await_readyz(&ops_of(p), true, UP).await?;
    }
    eventually_stored(&api, &bob.token, conv, during).await?;
    let (_, ids) = stored(&api, &bob.token, conv).await?;
    assert_eq!(ids.len(), 3, "each message once: {ids:?}");
    // A login needs the directory's database: it serves again too.
    let (status, _) = api
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": alice.username, "password": "correct horse battery"})),
        )
        .await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_turns_directory_and_presence_unready() -> anyhow::Result<()> {
    // The workers that use Redis run behind a proxy the test cuts.
    let stack = Stack::with(&[]).start().await?;
    let redis = redis_url();
    let proxy = TcpProxy::start(&redis).await?;
    let via = vec![("PARLEY_REDIS_URL".to_string(), proxy.url(&redis))];
    let mut workers = Vec::new();
    for w in [Directory, Presence] {
        workers.push(stack.spawn_worker_with(w, &via)?);
    }
    for p in &workers {
        await_readyz(&ops_of(p), true, UP).await?;
    }
    proxy.cut();
    for p in &workers {
        let body = await_readyz(&ops_of(p), false, DOWN).await?;
        assert!(body.contains("redis"), "{}: {body}", p.name);
    }
    // The login throttle fails open: accounts still work while Redis is away.
    stack.api().register("during").await?;
    proxy.restore();
    for p in &workers {
        await_readyz(&ops_of(p), true, UP).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_trace_id_given_to_the_edge_appears_in_the_workers_json_log() -> anyhow::Result<()> {
    // Persist logs JSON to a file the test reads.
    let mut stack = Stack::with(&[Directory]).start().await?;
    let log = std::env::temp_dir().join(format!("parley-persist-{}.log", Uuid::now_v7()));
    let mut env = stack.env();
    env.push(("PARLEY_LOG_FORMAT".into(), "json".into()));
    env.push(("PARLEY_LOG".into(), "warn,parley_kit=debug".into()));
    let persist = Proc::spawn_logged(Persist.binary(), &env, &["ops"], &log)?;
    stack.workers.insert(Persist, persist);
    let api = stack.api();
    let (alice, _bob, conv) = api.direct_pair().await?;
    let http = reqwest::Client::new();
    let send_trace = format!("send-{}", Uuid::now_v7().simple());
    let resp = http
        .post(format!(
            "{}/api/v1/conversations/{conv}/messages",
            stack.edge_url(0)
        ))
        .bearer_auth(&alice.token)
        .header("Parley-Trace-Id", &send_trace)
        .json(&json!({"id": Uuid::now_v7(), "body": "traced"}))
        .send()
        .await?;
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["parley-trace-id"], send_trace.as_str());
    let read_trace = format!("read-{}", Uuid::now_v7().simple());
    let resp = http
        .get(format!(
            "{}/api/v1/conversations/{conv}/messages",
            stack.edge_url(0)
        ))
        .bearer_auth(&alice.token)
        .header("Parley-Trace-Id", &read_trace)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    // One JSON object per line; the command's batch and the history request each carry theirs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let traced = |id: &str| {
            lines.iter().any(|l| {
                l["span"]["trace_id"]
                    .as_str()
                    .is_some_and(|t| t.split(',').any(|t| t == id))
            })
        };
        if traced(&send_trace) && traced(&read_trace) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "trace ids not in persist's JSON log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_file(&log);
    Ok(())
}
