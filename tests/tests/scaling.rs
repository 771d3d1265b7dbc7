//! Horizontal scaling, black-box: three edges and two instances of every stateless worker on
//! one NATS. Users on different edges share one order with contiguous seqs; a `kill -9` of an
//! edge, and of one instance of each worker mid-stream, loses and duplicates nothing that was
//! acknowledged: the other instances carry on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, ensure};
use parley_testkit::Worker::{Delivery, Directory, Persist, Receipts};
use parley_testkit::{
    Api, Replicas, Session, Stack, StackBuilder, Worker, Ws, history, history_of_at_least,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Three edges over `workers`, with rate limits out of the way.
fn three_edges(workers: &[Worker]) -> StackBuilder {
    Stack::with(workers).edges(3).env(&[
        ("PARLEY_USER_RATE", "100000"),
        ("PARLEY_USER_BURST", "100000"),
        ("PARLEY_CONN_RATE", "100000"),
        ("PARLEY_CONN_BURST", "100000"),
    ])
}

fn new_in(conv: Uuid) -> impl Fn(&Value) -> bool {
    let conv = conv.to_string();
    move |v: &Value| v["type"] == "message:new" && v["message"]["conversationId"] == conv
}

/// What one device saw: seq → message id. A seq naming two ids fails the test.
type View = BTreeMap<u64, String>;

fn record(view: &mut View, m: &Value) -> anyhow::Result<()> {
    let seq = m["seq"].as_u64().context("seq")?;
    let id = m["id"].as_str().context("id")?.to_string();
    if let Some(prev) = view.insert(seq, id.clone()) {
        ensure!(prev == id, "seq {seq} names two messages: {prev} and {id}");
    }
    Ok(())
}

/// Send `send` messages, then read live frames until `expect` distinct seqs of `conv` arrived.
fn chat(
    mut ws: Ws,
    conv: Uuid,
    label: &'static str,
    send: usize,
    expect: usize,
) -> JoinHandle<anyhow::Result<(Ws, View)>> {
    tokio::spawn(async move {
        for i in 0..send {
            ws.send_message(conv, &format!("{label} #{i}")).await?;
        }
        let mut view = View::new();
        while view.len() < expect {
            let v = ws.recv_until(new_in(conv)).await?;
            record(&mut view, &v["message"])?;
        }
        Ok((ws, view))
    })
}

/// Every device saw the same seq → id mapping, and the seqs are exactly `range`.
fn one_order(views: &[&View], range: std::ops::RangeInclusive<u64>) -> anyhow::Result<()> {
    let want: Vec<u64> = range.collect();
    for v in views {
        let seqs: Vec<u64> = v.keys().copied().collect();
        ensure!(seqs == want, "seqs contiguous in order: {seqs:?}");
        ensure!(*v == views[0], "every device sees one order");
    }
    Ok(())
}

/// `sync` from `cursor`; the messages of `conv` the answer holds, each seq at most once.
async fn sync(ws: &mut Ws, conv: Uuid, cursor: u64) -> anyhow::Result<View> {
    ws.send(json!({"type": "sync", "cursors": {conv.to_string(): cursor}}))
        .await?;
    let mut view = View::new();
    loop {
        let v = ws
            .recv_until(|v| v["type"] == "messages:offline" || v["type"] == "sync:done")
            .await?;
        if v["type"] == "sync:done" {
            return Ok(view);
        }
        if v["conversationId"] != conv.to_string() {
            continue;
        }
        for m in v["messages"].as_array().cloned().unwrap_or_default() {
            ensure!(
                m["seq"].as_u64().is_some_and(|s| s > cursor),
                "sync answers only what is past the cursor: {m}"
            );
            let before = view.len();
            record(&mut view, &m)?;
            ensure!(view.len() > before, "sync sent seq {} twice", m["seq"]);
        }
    }
}

/// The stored messages are exactly seqs 1..=n, each id once; returns the ids.
fn exactly_once(stored: &[Value], n: u64) -> anyhow::Result<BTreeSet<String>> {
    let mut seqs: Vec<u64> = stored.iter().filter_map(|m| m["seq"].as_u64()).collect();
    seqs.sort();
    ensure!(
        seqs == (1..=n).collect::<Vec<_>>(),
        "stored seqs are 1..={n}, contiguous, no duplicates (got {} messages)",
        seqs.len()
    );
    let ids: BTreeSet<String> = stored
        .iter()
        .filter_map(|m| m["id"].as_str().map(String::from))
        .collect();
    ensure!(ids.len() == stored.len(), "every id stored once");
    Ok(ids)
}

#[tokio::test]
async fn three_edges_and_two_of_each_worker_survive_kill_9() -> anyhow::Result<()> {
    let mut stack = three_edges(&Worker::ALL).start().await?;
    let replicas = Replicas::start(&stack, &Worker::ALL, 1)?;
    for w in Worker::ALL {
        assert_eq!(replicas.count(w), 1, "a second {w} runs");
    }
    let apis: Vec<Api> = (0..3).map(|i| Api::new(&stack.edge_url(i))).collect();
    // Each user registers and connects through a different edge.
    let alice = apis[0].register("alice").await?;
    let bob = apis[1].register("bob").await?;
    let carol = apis[2].register("carol").await?;
    let direct = apis[0]
        .conversation(&alice, "direct", &[&bob], None)
        .await?;
    let group = apis[2]
        .conversation(&carol, "group", &[&alice, &bob], Some("three edges"))
        .await?;
    let a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let b = Ws::connect(&stack.edge_url(1), &bob.token).await?;
    let c = Ws::connect(&stack.edge_url(2), &carol.token).await?;

    // 1-1 across two edges: both send at once, both see one order.
    let (ta, tb) = (
        chat(a, direct, "alice", 20, 40),
        chat(b, direct, "bob", 20, 40),
    );
    let (a, va) = ta.await??;
    let (b, vb) = tb.await??;
    one_order(&[&va, &vb], 1..=40)?;

    // A group across all three edges.
    let (ta, tb, tc) = (
        chat(a, group, "alice", 20, 60),
        chat(b, group, "bob", 20, 60),
        chat(c, group, "carol", 20, 60),
    );
    let (a, va) = ta.await??;
    let (mut b, vb) = tb.await??;
    let (c, vc) = tc.await??;
    one_order(&[&va, &vb, &vc], 1..=60)?;

    // Bob's edge dies under a burst of his sends while Alice and Carol keep talking elsewhere.
    let (ta, tc) = (
        chat(a, group, "alice", 15, 60),
        chat(c, group, "carol", 15, 60),
    );
    b.drain(Duration::from_millis(100)).await;
    let burst: Vec<Uuid> = (0..30).map(|_| Uuid::now_v7()).collect();
    for (i, id) in burst.iter().enumerate() {
        b.send(json!({"type": "message:send", "id": id, "conversationId": group, "body": format!("bob burst #{i}")}))
            .await?;
    }
    let first = b.recv_type("ack").await?;
    stack.edges.remove(1).kill9();
    let mut acked = BTreeSet::from([first["ref"].as_str().unwrap_or_default().to_string()]);
    while let Ok(Some(v)) = b.recv(Duration::from_secs(2)).await {
        if v["type"] == "ack" {
            acked.insert(v["ref"].as_str().unwrap_or_default().to_string());
        }
    }
    // Everything acked before the crash is stored without any retry.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let stored: BTreeSet<String> = history(&apis[0], &alice.token, group)
            .await?
            .iter()
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect();
        if acked.is_subset(&stored) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "acked before the crash but not stored: {:?}",
            acked.difference(&stored).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Bob comes back through another edge (former edge 2 is now index 1), syncs, and retries
    // the whole burst with the same ids: what was stored is not stored again.
    let mut b = Ws::connect(&stack.edge_url(1), &bob.token).await?;
    let mut vb = sync(&mut b, group, 60).await?;
    for (i, id) in burst.iter().enumerate() {
        b.send(json!({"type": "message:send", "id": id, "conversationId": group, "body": format!("bob burst #{i}")}))
            .await?;
    }
    for _ in &burst {
        let v = b
            .recv_until(|v| v["type"] == "ack" || v["type"] == "error")
            .await?;
        ensure!(v["type"] == "ack", "a retried send is accepted: {v}");
    }
    while vb.len() < 60 {
        let v = b.recv_until(new_in(group)).await?;
        record(&mut vb, &v["message"])?;
    }
    let (a, va) = ta.await??;
    let (c, vc) = tc.await??;
    one_order(&[&va, &vb, &vc], 61..=120)?;
    let ids = exactly_once(&history(&apis[0], &alice.token, group).await?, 120)?;
    for id in &burst {
        ensure!(ids.contains(&id.to_string()), "burst message {id} stored");
    }

    // One instance of every worker is killed mid-stream; the other carries on.
    let (mut a, mut c) = (a, c);
    a.drain(Duration::from_millis(100)).await;
    let mut sent = Vec::new();
    for i in 0..100 {
        sent.push(a.send_message(group, &format!("alice late #{i}")).await?);
        if i == 30 {
            for w in Worker::ALL {
                assert!(stack.kill9_worker(w), "{w} killed");
            }
        }
    }
    let mut acks = 0;
    while acks < sent.len() {
        let v = a
            .recv_until(|v| v["type"] == "ack" || v["type"] == "error")
            .await?;
        ensure!(v["type"] == "ack", "every send is accepted: {v}");
        acks += 1;
    }
    // What the killed persist had in hand is redelivered after the consumer's ack_wait.
    let stored =
        history_of_at_least(&apis[0], &alice.token, group, 220, Duration::from_secs(45)).await?;
    let ids = exactly_once(&stored, 220)?;
    for id in &sent {
        ensure!(ids.contains(&id.to_string()), "acked {id} stored");
    }
    // Carol's device has all of it once: live frames plus a sync from her cursor.
    let mut vc2 = sync(&mut c, group, 120).await?;
    while let Some(v) =
        tokio::time::timeout(Duration::from_millis(300), c.recv_until(new_in(group)))
            .await
            .ok()
            .and_then(Result::ok)
    {
        record(&mut vc2, &v["message"])?;
    }
    ensure!(
        vc2.keys().copied().collect::<Vec<_>>() == (121..=220).collect::<Vec<_>>(),
        "Carol has 121..=220"
    );

    // The surviving delivery, receipts, directory and presence instances serve.
    a.drain(Duration::from_millis(200)).await;
    b.drain(Duration::from_millis(200)).await;
    let last = a.send_message(group, "after the kills").await?;
    let got = b
        .recv_until(|v| new_in(group)(v) && v["message"]["id"] == last.to_string())
        .await?;
    assert_eq!(got["message"]["seq"], 221);
    b.send(json!({"type": "message:read", "conversationId": group, "seq": 221}))
        .await?;
    let bob_id = bob.id.to_string();
    a.recv_until(|v| v["type"] == "message:status" && v["userId"] == bob_id && v["readSeq"] == 221)
        .await?;
    let dave: Session = apis[2].register("dave").await?;
    // apis[1] named the killed edge; any other serves the same user.
    apis[0].conversation(&bob, "direct", &[&dave], None).await?;
    c.abort();
    let carol_id = carol.id.to_string();
    a.recv_until(|v| {
        v["type"] == "presence" && v["userId"] == carol_id && v["status"] == "offline"
    })
    .await?;
    Ok(())
}

/// With two delivery instances, an event's live copy and its EVENTS copy may be routed by
/// different ones; every device still gets each message once (edges forward one frame per
/// event key), in one order.
#[tokio::test]
async fn two_delivery_instances_deliver_each_message_once() -> anyhow::Result<()> {
    let stack = three_edges(&[Directory, Persist, Delivery, Receipts])
        .start()
        .await?;
    let _replicas = Replicas::start(&stack, &[Delivery], 1)?;
    let apis: Vec<Api> = (0..3).map(|i| Api::new(&stack.edge_url(i))).collect();
    let alice = apis[0].register("alice").await?;
    let bob = apis[1].register("bob").await?;
    let carol = apis[2].register("carol").await?;
    let group = apis[0]
        .conversation(&alice, "group", &[&bob, &carol], Some("two deliveries"))
        .await?;
    const EACH: usize = 30;
    // Every device is connected before anyone sends: this test counts live frames only.
    let mut sockets = Vec::new();
    for (i, user) in [&alice, &bob, &carol].into_iter().enumerate() {
        sockets.push(Ws::connect(&stack.edge_url(i), &user.token).await?);
    }
    let mut tasks = Vec::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                ws.send_message(group, &format!("u{i} #{n}")).await?;
            }
            let mut frames: BTreeMap<u64, usize> = BTreeMap::new();
            let mut view = View::new();
            while view.len() < 3 * EACH {
                let v = ws.recv_until(new_in(group)).await?;
                record(&mut view, &v["message"])?;
                *frames
                    .entry(v["message"]["seq"].as_u64().unwrap_or(0))
                    .or_default() += 1;
            }
            // A late second copy would arrive now.
            while let Ok(Some(v)) = ws.recv(Duration::from_millis(700)).await {
                if new_in(group)(&v) {
                    *frames
                        .entry(v["message"]["seq"].as_u64().unwrap_or(0))
                        .or_default() += 1;
                }
            }
            anyhow::Ok((view, frames, ws))
        }));
    }
    let mut views = Vec::new();
    let mut sockets = Vec::new();
    for t in tasks {
        let (view, frames, ws) = t.await??;
        sockets.push(ws);
        let twice: Vec<u64> = frames
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(s, _)| *s)
            .collect();
        ensure!(
            twice.is_empty(),
            "messages delivered twice to one device: {twice:?}"
        );
        views.push(view);
    }
    one_order(&[&views[0], &views[1], &views[2]], 1..=(3 * EACH) as u64)?;

    // Receipts take the same two paths (a live copy, the EVENTS copy): each of Alice's reads
    // reaches each device once, whichever instances route its two copies.
    let alice_id = alice.id.to_string();
    let last = (3 * EACH) as u64;
    let reads: Vec<u64> = (last - 7..=last).collect();
    for seq in &reads {
        sockets[0]
            .send(json!({"type": "message:read", "conversationId": group, "seq": seq}))
            .await?;
        sockets[1]
            .recv_until(|v| {
                v["type"] == "message:status" && v["userId"] == alice_id && v["readSeq"] == *seq
            })
            .await?;
    }
    // Each status was taken once above; any other left or arriving now is a second showing.
    let mut again: Vec<u64> = Vec::new();
    while let Ok(Some(v)) = sockets[1].recv(Duration::from_millis(700)).await {
        if v["type"] == "message:status" && v["userId"] == alice_id {
            again.push(v["readSeq"].as_u64().unwrap_or(0));
        }
    }
    ensure!(again.is_empty(), "read statuses shown again: {again:?}");
    Ok(())
}
