//! Messages at the size limit, made of the characters that cost the most as JSON, page and
//! sync completely, and hammering such a conversation does not degrade anyone else.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use parley_testkit::Worker::{Delivery, Directory, Persist};
use parley_testkit::{Api, Session, Ws};
use serde_json::json;
use uuid::Uuid;

/// The body limit in characters (contracts' `MAX_BODY_CHARS`).
const MAX_CHARS: usize = 100_000;

/// A body of `MAX_CHARS` characters: control characters (six bytes each as JSON) or emoji
/// (four bytes each).
fn worst_body(i: usize) -> String {
    if i.is_multiple_of(2) {
        char::from_u32(1 + (i % 7) as u32)
            .map(|c| c.to_string().repeat(MAX_CHARS))
            .unwrap_or_default()
    } else {
        "😀".repeat(MAX_CHARS)
    }
}

/// Send `n` maximum-size messages over REST (a WebSocket frame cannot carry a body of 100,000
/// escaped control characters; the REST body can) and return their ids in order.
async fn fill(api: &Api, who: &Session, conv: Uuid, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        let (status, body) = api
            .call(
                "POST",
                &format!("/conversations/{conv}/messages"),
                Some(&who.token),
                Some(json!({"id": id, "body": worst_body(i)})),
            )
            .await?;
        anyhow::ensure!(status == 202, "send {i}: {status} {body}");
        ids.push(id);
    }
    Ok(ids)
}

/// Page through the whole history (default page size), newest first; each page must answer.
/// Returns the seqs in the order received and the number of pages.
async fn all_pages(api: &Api, who: &Session, conv: Uuid) -> anyhow::Result<(Vec<u64>, usize)> {
    let mut seqs = Vec::new();
    let mut before: Option<u64> = None;
    let mut pages = 0;
    loop {
        let path = match before {
            Some(b) => format!("/conversations/{conv}/messages?before={b}"),
            None => format!("/conversations/{conv}/messages"),
        };
        let (status, page) = api.call("GET", &path, Some(&who.token), None).await?;
        anyhow::ensure!(status == 200, "page {pages}: {status} {page}");
        pages += 1;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(!messages.is_empty() || seqs.is_empty(), "an empty page");
        for m in &messages {
            anyhow::ensure!(
                m["body"].as_str().map(|b| b.chars().count()) == Some(MAX_CHARS),
                "a body came back altered"
            );
            seqs.push(m["seq"].as_u64().unwrap_or(0));
        }
        if page["hasMore"] != true {
            anyhow::ensure!(page["nextCursor"].is_null(), "no more pages but a cursor");
            return Ok((seqs, pages));
        }
        let next = page["nextCursor"].as_u64();
        anyhow::ensure!(
            next.is_some() && next == messages.last().and_then(|m| m["seq"].as_u64()),
            "hasMore without the last message's seq as cursor: {}",
            page["nextCursor"]
        );
        before = next;
    }
}

/// Wait until the conversation's history holds `n` messages.
async fn stored(api: &Api, who: &Session, conv: Uuid, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, page) = api
            .call(
                "GET",
                &format!("/conversations/{conv}/messages?limit=1"),
                Some(&who.token),
                None,
            )
            .await?;
        if status == 200 && page["messages"][0]["seq"].as_u64() == Some(n as u64) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "not stored in time: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A full sync from scratch; the seqs of every message received (messages and updates), per
/// batch count, until `sync:done`.
async fn sync_all(ws: &mut Ws, conv: Uuid) -> anyhow::Result<(BTreeSet<u64>, usize)> {
    ws.send(json!({"type": "sync", "cursors": {conv.to_string(): 0}}))
        .await?;
    let mut seqs = BTreeSet::new();
    let mut batches = 0;
    loop {
        let v = ws
            .recv_until(|v| {
                v["type"] == "messages:offline" || v["type"] == "sync:done" || v["type"] == "error"
            })
            .await?;
        match v["type"].as_str() {
            Some("sync:done") => return Ok((seqs, batches)),
            Some("messages:offline") => {
                batches += 1;
                for m in v["messages"].as_array().into_iter().flatten() {
                    seqs.insert(m["seq"].as_u64().unwrap_or(0));
                }
            }
            _ => anyhow::bail!("sync failed: {v}"),
        }
    }
}

#[tokio::test]
async fn history_and_sync_of_max_size_messages_complete() -> anyhow::Result<()> {
    let stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    const N: usize = 50;
    fill(&api, &alice, conv, N).await?;
    stored(&api, &bob, conv, N).await?;

    let (seqs, pages) = all_pages(&api, &bob, conv).await?;
    assert_eq!(seqs, (1..=N as u64).rev().collect::<Vec<_>>());
    assert!(pages > 2, "bounded by bytes, so several pages: {pages}");

    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let (seqs, batches) = sync_all(&mut b, conv).await?;
    assert_eq!(seqs, (1..=N as u64).collect());
    assert!(
        batches > 2,
        "bounded by bytes, so several batches: {batches}"
    );
    Ok(())
}

#[tokio::test]
async fn hammering_a_conversation_of_big_messages_leaves_others_unharmed() -> anyhow::Result<()> {
    let stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let api = stack.api();
    let (alice, bob, big) = api.direct_pair().await?;
    const N: usize = 24;
    fill(&api, &alice, big, N).await?;
    stored(&api, &bob, big, N).await?;
    let (carol, dave, small) = api.direct_pair().await?;
    let mut c = Ws::connect(&stack.edge_url(0), &carol.token).await?;
    for i in 0..5 {
        c.send_message(small, &format!("hi {i}")).await?;
    }
    stored(&api, &dave, small, 5).await?;

    // Several clients ask for the biggest pages and full syncs of the big conversation at once.
    let stop = Instant::now() + Duration::from_secs(12);
    let mut hammers = Vec::new();
    for k in 0..6 {
        let api = api.clone();
        let bob = bob.clone();
        let base = stack.edge_url(0);
        hammers.push(tokio::spawn(async move {
            let mut done = 0usize;
            while Instant::now() < stop {
                if k % 2 == 0 {
                    let (status, page) = api
                        .call(
                            "GET",
                            &format!("/conversations/{big}/messages?limit=100"),
                            Some(&bob.token),
                            None,
                        )
                        .await?;
                    anyhow::ensure!(status == 200, "big page: {status} {page}");
                } else {
                    let mut ws = Ws::connect(&base, &bob.token).await?;
                    let (seqs, _) = sync_all(&mut ws, big).await?;
                    anyhow::ensure!(seqs.len() == N, "big sync: {}", seqs.len());
                }
                done += 1;
            }
            Ok::<usize, anyhow::Error>(done)
        }));
    }
    // Meanwhile someone else's history and sync answer every time.
    let mut checks = 0;
    while Instant::now() < stop {
        let (status, page) = api
            .call(
                "GET",
                &format!("/conversations/{small}/messages"),
                Some(&dave.token),
                None,
            )
            .await?;
        assert_eq!(status, 200, "an unrelated history page failed: {page}");
        assert_eq!(page["messages"].as_array().map(Vec::len), Some(5));
        let mut d = Ws::connect(&stack.edge_url(0), &dave.token).await?;
        let (seqs, _) = sync_all(&mut d, small).await?;
        assert_eq!(seqs, (1..=5).collect());
        checks += 1;
    }
    assert!(checks > 3, "{checks}");
    for h in hammers {
        let done = h.await??;
        assert!(done > 0);
    }
    Ok(())
}

/// Reactions are what could grow one message past any bound: a message takes 1,000 (one
/// user's one emoji each), and the next is refused.
#[tokio::test]
async fn a_message_holds_at_most_1000_reactions() -> anyhow::Result<()> {
    let stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let api = stack.api();
    let (alice, _bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mid = a.send_message(conv, "react to me").await?;
    a.recv_until(|v| v["type"] == "message:new").await?;
    let react = |i: u32| {
        let emoji = char::from_u32(0x1F300 + i)
            .map(String::from)
            .unwrap_or_default();
        json!({"type": "reaction:add", "id": Uuid::now_v7(), "conversationId": conv, "messageId": mid, "emoji": emoji})
    };
    for i in 0..1000 {
        a.send(react(i)).await?;
    }
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while most < 1000 {
        anyhow::ensure!(Instant::now() < deadline, "only {most} reactions stored");
        let Some(v) = a.recv(Duration::from_secs(30)).await? else {
            anyhow::bail!("socket closed at {most} reactions");
        };
        anyhow::ensure!(v["type"] != "error", "{v}");
        if v["type"] == "message:updated" {
            most = most.max(v["message"]["reactions"].as_array().map_or(0, Vec::len));
        }
    }
    a.drain(Duration::from_millis(300)).await;
    let over = react(1000);
    a.send(over.clone()).await?;
    let e = a
        .recv_until(|v| v["type"] == "error" && v["ref"] == over["id"])
        .await?;
    assert_eq!(e["code"], "conflict", "{e}");
    Ok(())
}
