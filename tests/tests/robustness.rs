//! Bad input, limits, crashes and drains: the connection and the data survive.

mod common;

use std::time::Duration;

use parley_testkit::Worker::{Delivery, Directory, Persist};
use parley_testkit::{Stack, Ws};
use serde_json::{Value, json};
use uuid::Uuid;

fn is_new(v: &Value) -> bool {
    v["type"] == "message:new"
}

#[tokio::test]
async fn invalid_frames_get_stable_codes_and_the_connection_survives() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    a.send_text("not json".into()).await?;
    assert_eq!(a.recv_type("error").await?["code"], "invalid_frame");
    a.send(json!({"type": "warp:drive"})).await?;
    assert_eq!(a.recv_type("error").await?["code"], "unknown_type");
    a.send(json!({"type": "message:send", "id": "abc", "conversationId": conv, "body": 5}))
        .await?;
    let e = a.recv_type("error").await?;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("bad_request"), Some("abc"))
    );
    let v4 = "3f0b2a3e-3d9e-4c47-9a59-5f3a4cbd2e11";
    a.send(json!({"type": "message:send", "id": v4, "conversationId": conv, "body": "x"}))
        .await?;
    assert_eq!(a.recv_type("error").await?["code"], "invalid_id");
    let id = Uuid::now_v7();
    a.send(json!({"type": "message:send", "id": id, "conversationId": conv, "body": "a".repeat(100_001)})).await?;
    let e = a.recv_type("error").await?;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("body_too_long"), Some(id.to_string().as_str()))
    );
    a.send(
        json!({"type": "message:send", "id": Uuid::now_v7(), "conversationId": conv, "body": "  "}),
    )
    .await?;
    assert_eq!(a.recv_type("error").await?["code"], "body_empty");
    a.send(json!({"type": "message:send", "id": Uuid::now_v7(), "conversationId": conv, "body": "nul\u{0}"})).await?;
    assert_eq!(a.recv_type("error").await?["code"], "bad_request");
    // A 100,000-character body of multi-byte characters is fine.
    let big = "é".repeat(100_000);
    a.send_message(conv, &big).await?;
    assert_eq!(
        a.recv_until(is_new).await?["message"]["body"]
            .as_str()
            .map(|s| s.chars().count()),
        Some(100_000)
    );
    a.send(json!({"type": "ping", "ref": "p1"})).await?;
    assert_eq!(a.recv_type("pong").await?["ref"], "p1");
    // Unauthenticated sockets get nothing but an error.
    let mut anon = Ws::connect_raw(&stack.edge_url(0)).await?;
    anon.send(
        json!({"type": "message:send", "id": Uuid::now_v7(), "conversationId": conv, "body": "x"}),
    )
    .await?;
    assert_eq!(anon.recv_type("error").await?["code"], "not_authenticated");
    assert!(anon.closed_within(Duration::from_secs(5)).await);
    let (_, page) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages"),
            Some(&bob.token),
            None,
        )
        .await?;
    assert_eq!(
        page["messages"].as_array().map(Vec::len),
        Some(1),
        "nothing invalid was stored"
    );
    Ok(())
}

#[tokio::test]
async fn send_rate_limits_answer_with_a_clear_error() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist])
        .env(&[("PARLEY_CONN_RATE", "1"), ("PARLEY_CONN_BURST", "3")])
        .start()
        .await?;
    let api = stack.api();
    let (alice, _bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    for i in 0..6 {
        a.send_message(conv, &format!("{i}")).await?;
    }
    let limited = a.recv_until(|v| v["type"] == "error").await?;
    assert_eq!(limited["code"], "rate_limited");
    Ok(())
}

#[tokio::test]
async fn connection_cap_and_accept_rate_answer_503_with_retry_after() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory])
        .env(&[("PARLEY_MAX_CONNECTIONS", "2")])
        .start()
        .await?;
    let alice = stack.api().register("alice").await?;
    let _one = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let _two = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let err = Ws::connect_raw(&stack.edge_url(0))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("503"),
        "third connection refused with 503: {err}"
    );
    Ok(())
}

/// `kill -9` of persist and of delivery while messages flow: every acked message is stored
/// exactly once and reaches the recipient once the workers are back.
#[tokio::test]
async fn kill_9_of_persist_and_delivery_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let mut stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let mut acked = Vec::new();
    for round in 0..3 {
        for i in 0..100 {
            acked.push(a.send_message(conv, &format!("r{round} m{i}")).await?);
            if i == 30 {
                // Round 0 kills persist, round 1 delivery, round 2 both.
                if round != 1 {
                    stack.kill9_worker(Persist);
                }
                if round != 0 {
                    stack.kill9_worker(Delivery);
                }
            }
        }
        for w in [Persist, Delivery] {
            if !stack.workers.contains_key(&w) {
                let p = stack.spawn_worker(w)?;
                stack.workers.insert(w, p);
            }
        }
    }
    let mut ack_count = 0;
    while ack_count < acked.len() {
        let v = a
            .recv_until(|v| v["type"] == "ack" || v["type"] == "error")
            .await?;
        assert_eq!(v["type"], "ack", "every send is accepted: {v}");
        ack_count += 1;
    }
    // The store has each acked message once, with seqs 1..=300. Redelivery after a crash waits
    // for the consumer's ack_wait, so poll.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let mut all = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            let q = before.map(|b| format!("&before={b}")).unwrap_or_default();
            let (_, page) = api
                .call(
                    "GET",
                    &format!("/conversations/{conv}/messages?limit=100{q}"),
                    Some(&bob.token),
                    None,
                )
                .await?;
            all.extend(page["messages"].as_array().cloned().unwrap_or_default());
            if page["hasMore"] != true {
                break;
            }
            before = page["nextCursor"].as_u64();
        }
        if all.len() >= acked.len() || tokio::time::Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut ids: Vec<String> = stored
        .iter()
        .filter_map(|m| m["id"].as_str().map(String::from))
        .collect();
    let mut seqs: Vec<u64> = stored.iter().filter_map(|m| m["seq"].as_u64()).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<_>>(),
        "contiguous, no gaps, no duplicates"
    );
    ids.sort();
    let mut want: Vec<String> = acked.iter().map(|u| u.to_string()).collect();
    want.sort();
    assert_eq!(ids, want, "every acked message stored exactly once");
    // Bob's device: live frames plus a sync cover everything (delivery is at-least-once
    // to online devices; sync fills what a crash of delivery skipped).
    b.send(json!({"type": "sync", "cursors": {conv.to_string(): 0}}))
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let v = b
            .recv_until(|v| {
                is_new(v) || v["type"] == "messages:offline" || v["type"] == "sync:done"
            })
            .await?;
        match v["type"].as_str() {
            Some("sync:done") => break,
            Some("message:new") => {
                seen.insert(v["message"]["seq"].as_u64().unwrap_or(0));
            }
            _ => seen.extend(
                v["messages"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| m["seq"].as_u64()),
            ),
        }
    }
    assert_eq!(seen.len(), 300);
    Ok(())
}

/// A command that reaches COMMANDS again under another `Nats-Msg-Id` (a resend after the
/// stream's dedupe window, or a redelivery) is sequenced once: persist finds it stored,
/// whether it comes alone, beside fresh sends in one batch, or twice in one batch.
#[tokio::test]
async fn a_command_stored_twice_is_sequenced_once() -> anyhow::Result<()> {
    use parley_contracts::events::{MessageAction, MessageCommand};
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    let sender: Uuid = alice.id;
    let publish = |id: Uuid, copy: &str| {
        let js = js.clone();
        let msg_id = format!("{id}-{copy}");
        async move {
            let cmd = MessageCommand {
                v: parley_contracts::SCHEMA_VERSION,
                id,
                conversation_id: conv,
                sender_id: sender,
                accepted_at: chrono::Utc::now(),
                action: MessageAction::Send {
                    body: format!("body of {id}"),
                    reply_to: None,
                    mentions: Vec::new(),
                    forward_from: None,
                },
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", msg_id.as_str());
            js.publish_with_headers(
                parley_contracts::subjects::cmd_msg(conv),
                headers,
                serde_json::to_vec(&cmd)?.into(),
            )
            .await?
            .await?;
            anyhow::Ok(())
        }
    };
    let (x, y, z, w) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let seen_seq = |id: Uuid| {
        let id = id.to_string();
        move |v: &Value| is_new(v) && v["message"]["id"] == id
    };
    publish(x, "a").await?;
    assert_eq!(b.recv_until(seen_seq(x)).await?["message"]["seq"], 1);
    // x again (already stored) in front of a fresh y.
    publish(x, "b").await?;
    publish(y, "a").await?;
    assert_eq!(b.recv_until(seen_seq(y)).await?["message"]["seq"], 2);
    // z twice back to back, then w.
    publish(z, "a").await?;
    publish(z, "b").await?;
    publish(w, "a").await?;
    assert_eq!(b.recv_until(seen_seq(w)).await?["message"]["seq"], 4);
    let stored: Vec<(u64, String)> = parley_testkit::history(&api, &bob.token, conv)
        .await?
        .iter()
        .filter_map(|m| Some((m["seq"].as_u64()?, m["id"].as_str()?.to_string())))
        .collect();
    let want: Vec<(u64, String)> = [(4, w), (3, z), (2, y), (1, x)]
        .into_iter()
        .map(|(s, id)| (s, id.to_string()))
        .collect();
    assert_eq!(stored, want, "each command once, seqs contiguous");
    Ok(())
}

#[tokio::test]
async fn sigterm_drains_the_edge_and_clients_are_told_to_reconnect() -> anyhow::Result<()> {
    let mut stack = Stack::with(&[Directory, Persist, Delivery])
        .edges(2)
        .start()
        .await?;
    let api = parley_testkit::Api::new(&stack.edge_url(1));
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let edge = stack.edges.remove(0);
    assert!(
        edge.terminate(Duration::from_secs(10)),
        "the edge exits cleanly on SIGTERM"
    );
    let frame = a.recv_type("reconnect").await?;
    assert!(frame["afterMs"].as_u64().is_some_and(|ms| ms <= 5000));
    // Any other edge serves the same user.
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    a.send_message(conv, "after the drain").await?;
    assert_eq!(
        b.recv_until(is_new).await?["message"]["body"],
        "after the drain"
    );
    Ok(())
}

#[tokio::test]
async fn every_binary_serves_health_readiness_and_metrics() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let http = reqwest::Client::new();
    let mut bases = vec![stack.edge_url(0)];
    for p in stack.workers.values() {
        bases.push(format!("http://{}", p.addrs["ops"]));
    }
    // Produce some traffic so metrics exist.
    let api = stack.api();
    let (alice, _bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    a.send_message(conv, "metrics").await?;
    a.recv_until(is_new).await?;
    for base in bases {
        assert_eq!(
            http.get(format!("{base}/healthz")).send().await?.status(),
            200,
            "{base}"
        );
        assert_eq!(
            http.get(format!("{base}/readyz")).send().await?.status(),
            200,
            "{base}"
        );
        let m = http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        assert!(m.contains("parley_"), "{base} exports parley_* metrics");
    }
    let (status, doc) = api.call("GET", "/openapi.json", None, None).await?;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    Ok(())
}
