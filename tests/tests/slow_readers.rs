//! Clients that stop reading their socket: they are disconnected with close code 4008 within
//! the write time-out or the outbound byte bound, the edge's queued bytes stay bounded, and
//! they hold no catch-up slot that someone else's sync waits for.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use parley_testkit::Worker::{Delivery, Directory, Persist};
use parley_testkit::{Api, Session, Stack, Ws};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use uuid::Uuid;

const QUEUED: &str = "parley_edge_ws_outbound_bytes";
const SLOW: &str = "parley_edge_slow_consumer_disconnects_total";

async fn stack(extra: &[(&str, &str)]) -> anyhow::Result<Stack> {
    let mut env = vec![
        ("PARLEY_USER_RATE", "100000"),
        ("PARLEY_USER_BURST", "100000"),
        ("PARLEY_CONN_RATE", "100000"),
        ("PARLEY_CONN_BURST", "100000"),
        ("PARLEY_CONN_FRAME_RATE", "100000"),
        ("PARLEY_CONN_FRAME_BURST", "100000"),
    ];
    env.extend_from_slice(extra);
    Stack::with(&[Directory, Persist, Delivery])
        .env(&env)
        .start()
        .await
}

/// A WebSocket over a TCP socket with a tiny receive buffer, authenticated; the caller then
/// stops polling it, so the server's writes back up at once.
async fn slow_socket(base: &str, token: &str) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let addr: SocketAddr = base.trim_start_matches("http://").parse()?;
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let tcp = socket.connect(addr).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp).await?;
    ws.send(Message::Text(
        json!({"type": "auth", "token": token}).to_string().into(),
    ))
    .await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
            Some(Ok(Message::Text(t))) if t.contains(r#""type":"ready""#) => return Ok(ws),
            Some(Ok(_)) => continue,
            other => anyhow::bail!("no ready frame: {other:?}"),
        }
    }
}

/// Read on until the server's close frame; its code (None when the stream just ended).
async fn close_code(ws: &mut WebSocketStream<TcpStream>) -> Option<CloseCode> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
    None
}

/// The sum of a metric's series on the edge's `/metrics` (with `label` in them, if given).
async fn metric(base: &str, name: &str, label: Option<&str>) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| label.is_none_or(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

async fn send_big(api: &Api, who: &Session, conv: Uuid) -> anyhow::Result<()> {
    let (status, body) = api
        .call(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&who.token),
            // 400,000 bytes of JSON in every frame that carries it.
            Some(json!({"id": Uuid::now_v7(), "body": "😀".repeat(100_000)})),
        )
        .await?;
    anyhow::ensure!(status == 202, "{status} {body}");
    Ok(())
}

#[tokio::test]
async fn a_socket_that_never_reads_is_closed_at_the_byte_bound() -> anyhow::Result<()> {
    // Only the byte bound can act: the write time-out is far away.
    let stack = stack(&[("PARLEY_WS_WRITE_TIMEOUT_SECONDS", "300")]).await?;
    let base = stack.edge_url(0);
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut slow = slow_socket(&base, &bob.token).await?;
    let mut peak = 0.0f64;
    let mut closed = false;
    for _ in 0..40 {
        send_big(&api, &alice, conv).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(metric(&base, QUEUED, None).await?);
        if metric(&base, SLOW, Some("queue_full")).await? >= 1.0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "never disconnected; {peak} bytes queued at most");
    // The default bound (1 MiB) plus the one frame an empty queue always takes.
    assert!(peak <= (2 << 20) as f64, "{peak} bytes queued");
    assert_eq!(close_code(&mut slow).await, Some(CloseCode::from(4008)));
    // What was queued for it is given back.
    assert_eq!(metric(&base, QUEUED, None).await?, 0.0);
    Ok(())
}

#[tokio::test]
async fn a_socket_that_never_reads_is_closed_within_the_write_timeout() -> anyhow::Result<()> {
    // Only the time-out can act: the byte bound is far away.
    let stack = stack(&[
        ("PARLEY_WS_WRITE_TIMEOUT_SECONDS", "2"),
        ("PARLEY_WS_OUTBOUND_BYTES", "268435456"),
    ])
    .await?;
    let base = stack.edge_url(0);
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut slow = slow_socket(&base, &bob.token).await?;
    // Send until frames queue up behind the socket, then wait.
    let mut stalled = None;
    for _ in 0..40 {
        send_big(&api, &alice, conv).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if metric(&base, QUEUED, None).await? > 0.0 {
            stalled = Some(Instant::now());
            break;
        }
    }
    let stalled = stalled.expect("frames never queued for the socket");
    let deadline = stalled + Duration::from_secs(8);
    while metric(&base, SLOW, Some("write_timeout")).await? < 1.0 {
        assert!(
            Instant::now() < deadline,
            "not disconnected within the write time-out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stalled.elapsed() >= Duration::from_millis(1500),
        "too early"
    );
    assert_eq!(close_code(&mut slow).await, Some(CloseCode::from(4008)));
    assert_eq!(metric(&base, QUEUED, None).await?, 0.0);
    Ok(())
}

#[tokio::test]
async fn syncs_of_sockets_that_do_not_read_hold_no_catchup_slot() -> anyhow::Result<()> {
    // Two slots, three syncs that stall on their sockets, and a write time-out longer than the
    // test: only releasing the slot while a sync waits for its socket lets a fourth one run.
    let stack = stack(&[
        ("PARLEY_CATCHUP_CONCURRENCY", "2"),
        ("PARLEY_WS_WRITE_TIMEOUT_SECONDS", "300"),
    ])
    .await?;
    let base = stack.edge_url(0);
    let api = stack.api();
    let alice = api.register("alice").await?;
    let mut slow_users = Vec::new();
    for _ in 0..3 {
        slow_users.push(api.register("slow").await?);
    }
    let members: Vec<&Session> = slow_users.iter().collect();
    let group = api
        .conversation(&alice, "group", &members, Some("big"))
        .await?;
    // Far more than the socket buffers, the outbound queue and the feed can hold between
    // them, in batches that each fit a reply.
    const N: u64 = 800;
    let mut a = Ws::connect(&base, &alice.token).await?;
    let body = "a".repeat(16_000);
    for _ in 0..N {
        a.send_message(group, &body).await?;
    }
    a.recv_until(|v| v["type"] == "message:new" && v["message"]["seq"] == N)
        .await?;
    drop(a);

    let mut stalled = Vec::new();
    for u in &slow_users {
        let mut ws = slow_socket(&base, &u.token).await?;
        ws.send(Message::Text(
            json!({"type": "sync", "cursors": {group.to_string(): 0}})
                .to_string()
                .into(),
        ))
        .await?;
        stalled.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (carol, dave, small) = api.direct_pair().await?;
    let mut c = Ws::connect(&base, &carol.token).await?;
    c.send_message(small, "hello").await?;
    c.recv_until(|v| v["type"] == "message:new").await?;
    let mut d = Ws::connect(&base, &dave.token).await?;
    let started = Instant::now();
    d.send(json!({"type": "sync", "cursors": {small.to_string(): 0}}))
        .await?;
    let batch = d.recv_type("messages:offline").await?;
    assert_eq!(batch["messages"][0]["body"], "hello");
    d.recv_type("sync:done").await?;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);
    Ok(())
}
