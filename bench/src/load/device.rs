//! One simulated client device: a task that owns its WebSocket, connects (backing off on
//! 503 + Retry-After), authenticates, answers what it receives as a real client would
//! (`message:delivered` for every message, `message:read` for a share), and after a drop comes
//! back and `sync`s from its cursors.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::view::{ConvView, Insert};
use super::worker::{Sent, Shared, Stage};
use crate::accounts::backoff;
use crate::hist::record;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, Message>;

pub enum Cmd {
    Send {
        id: Uuid,
        conv: usize,
        at: Instant,
    },
    Typing(usize),
    /// Drop the socket and come back after this long (the reconnect storm).
    Drop(Duration),
}

/// A failed sync (say `unavailable` while a storm overloads the services) is tried again
/// after a backoff, this many times in a row at most, as a real client does.
const SYNC_ATTEMPTS: u32 = 6;

/// Why the socket loop ended.
enum End {
    /// Come back after this long, then sync.
    Reconnect(Duration, bool),
    Finished,
}

pub struct Device {
    sh: Arc<Shared>,
    me: usize,
    token: String,
    refresh: String,
    pub views: HashMap<usize, ConvView>,
    /// Highest `message:delivered` sent per conversation.
    delivered: HashMap<usize, u64>,
    /// Sent and not yet acked: sent again, with the same id, after a reconnect (the id makes
    /// the retry idempotent), as a real client's outbox does.
    outbox: BTreeMap<Uuid, usize>,
    /// A sync in flight: when it started (the drop, for a reconnect), whether it is the
    /// final one. Devices do not coordinate their syncs (real clients cannot): the edge bounds
    /// how many run at once.
    syncing: Option<(Instant, bool)>,
    /// Failed syncs in a row, and when to try again (a retry waits for the backoff).
    sync_failures: u32,
    sync_retry: Option<(Instant, Instant, bool)>,
    /// Sends the edge answered `unavailable` or `rate_limited` ("retry with the same id"), and
    /// when to send them again.
    resends: VecDeque<(Instant, Uuid)>,
    finished: bool,
}

/// How a connection attempt's authentication ended.
enum Authed {
    Ready,
    /// The server refused the token (`token_expired`, `unauthenticated`, ...).
    Refused,
    Failed,
}

impl Device {
    pub fn new(
        sh: Arc<Shared>,
        me: usize,
        (token, refresh): (String, String),
        bases: &[(usize, u64)],
    ) -> Self {
        Self {
            sh,
            me,
            token,
            refresh,
            views: bases.iter().map(|&(c, b)| (c, ConvView::new(b))).collect(),
            delivered: HashMap::new(),
            outbox: BTreeMap::new(),
            syncing: None,
            sync_failures: 0,
            sync_retry: None,
            resends: VecDeque::new(),
            finished: false,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) -> Self {
        let mut first = true;
        let mut dropped_at: Option<Instant> = None;
        let mut finish = self.sh.finish.subscribe();
        loop {
            let t0 = Instant::now();
            self.sh.set_stage(self.me, Stage::Connecting);
            let Some(ws) = self.connect().await else {
                self.sh.gave_up.fetch_add(1, Ordering::Relaxed);
                self.sh.set_stage(self.me, Stage::Done);
                return self;
            };
            self.sh.set_stage(self.me, Stage::Live);
            self.sh.online[self.me].store(true, Ordering::Relaxed);
            self.sh.connected.fetch_add(1, Ordering::Relaxed);
            if first {
                if let Ok(mut h) = self.sh.hists.lock() {
                    record(&mut h.connect, t0.elapsed().as_micros());
                }
            } else {
                self.sh.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            let (mut sink, stream) = ws.split();
            if !first {
                self.start_sync(&mut sink, dropped_at.unwrap_or(t0), false)
                    .await;
                let retry: Vec<(Uuid, usize)> = self.outbox.iter().map(|(&i, &c)| (i, c)).collect();
                for (id, conv) in retry {
                    if send(&mut sink, &self.send_frame(id, conv)).await {
                        self.sh.resent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            first = false;
            let end = self.serve(&mut sink, stream, &mut rx, &mut finish).await;
            self.sh.online[self.me].store(false, Ordering::Relaxed);
            self.sh.connected.fetch_sub(1, Ordering::Relaxed);
            self.syncing = None;
            self.sync_retry = None;
            // The outbox is sent again after the reconnect.
            self.resends.clear();
            match end {
                End::Finished => {
                    self.sh.set_stage(self.me, Stage::Done);
                    return self;
                }
                End::Reconnect(after, planned) => {
                    if !planned {
                        self.sh.disconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = sink.close().await;
                    dropped_at = Some(Instant::now());
                    tokio::time::sleep(after).await;
                }
            }
            if self.finished {
                self.sh.set_stage(self.me, Stage::Done);
                return self;
            }
        }
    }

    /// A new access token from the refresh token (rotated: the new refresh token is kept).
    async fn renew(&mut self) -> bool {
        let url = format!("{}/api/v1/auth/refresh", self.sh.base_url);
        let r = self
            .sh
            .http
            .post(url)
            .json(&json!({"refreshToken": self.refresh}))
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        let v: Value = match r {
            Ok(resp) if resp.status().is_success() => match resp.json().await {
                Ok(v) => v,
                Err(_) => Value::Null,
            },
            _ => Value::Null,
        };
        match (v["accessToken"].as_str(), v["refreshToken"].as_str()) {
            (Some(access), Some(refresh)) => {
                self.token = access.to_string();
                self.refresh = refresh.to_string();
                self.sh.error("token_renewed");
                true
            }
            _ => {
                self.sh.error("token_renew_failed");
                false
            }
        }
    }

    async fn connect(&mut self) -> Option<Ws> {
        for attempt in 1..=60u32 {
            let r = tokio::time::timeout(
                Duration::from_secs(15),
                tokio_tungstenite::connect_async_with_config(self.sh.ws_url.as_str(), None, true),
            )
            .await;
            let wait = match r {
                Ok(Ok((mut ws, _))) => {
                    let auth = json!({"type": "auth", "token": self.token}).to_string();
                    let authed = if ws.send(Message::Text(auth.into())).await.is_ok() {
                        wait_ready(&mut ws).await
                    } else {
                        Authed::Failed
                    };
                    match authed {
                        Authed::Ready => return Some(ws),
                        Authed::Refused => {
                            self.sh.error("auth_refused");
                            if self.renew().await {
                                continue;
                            }
                        }
                        Authed::Failed => self.sh.error("auth_failed"),
                    }
                    backoff(attempt, None)
                }
                Ok(Err(tungstenite::Error::Http(resp))) => {
                    let retry = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    if resp.status().as_u16() == 503 {
                        self.sh.rejected.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.sh.error(&format!("http_{}", resp.status().as_u16()));
                    }
                    backoff(attempt, retry)
                }
                Ok(Err(_)) => {
                    self.sh.error("connect_failed");
                    backoff(attempt, None)
                }
                Err(_) => {
                    self.sh.error("connect_timeout");
                    backoff(attempt, None)
                }
            };
            tokio::time::sleep(wait).await;
        }
        None
    }

    async fn serve(
        &mut self,
        sink: &mut Sink,
        mut stream: SplitStream<Ws>,
        rx: &mut mpsc::Receiver<Cmd>,
        finish: &mut watch::Receiver<bool>,
    ) -> End {
        loop {
            let retry_at = self.sync_retry.map(|(at, _, _)| at);
            let resend_at = self.resends.front().map(|(at, _)| *at);
            tokio::select! {
                _ = tokio::time::sleep_until(resend_at.unwrap_or_else(Instant::now).into()), if resend_at.is_some() => {
                    let now = Instant::now();
                    while self.resends.front().is_some_and(|(at, _)| *at <= now) {
                        let Some((_, id)) = self.resends.pop_front() else { break };
                        if let Some(&conv) = self.outbox.get(&id)
                            && send(sink, &self.send_frame(id, conv)).await
                        {
                            self.sh.resent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // (The sender lives as long as every device: an error cannot come first.)
                _ = async { finish.wait_for(|f| *f).await.map(|_| ()) }, if !self.finished => {
                    self.begin_final(sink).await;
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now).into()), if retry_at.is_some() => {
                    if let Some((_, since, last)) = self.sync_retry.take() {
                        self.start_sync(sink, since, last).await;
                    }
                }
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(t))) => {
                        if let Some(end) = self.on_frame(sink, &t).await {
                            return end;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        if self.finished {
                            return End::Finished;
                        }
                        return End::Reconnect(backoff(1, None), false);
                    }
                    _ => {}
                },
                cmd = rx.recv(), if !self.finished => match cmd {
                    Some(Cmd::Send { id, conv, at }) => {
                        let go = self.sh.go();
                        let sec = at.saturating_duration_since(go).as_secs() as usize;
                        if let Ok(mut s) = self.sh.sent.lock() {
                            s.insert(id, Sent { at, sec, conv, acked: false });
                        }
                        self.outbox.insert(id, conv);
                        if send(sink, &self.send_frame(id, conv)).await {
                            self.sh.sent_n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Cmd::Typing(conv)) => {
                        if let Ok(mut t) = self.sh.typing_sent.lock() {
                            t.insert((conv, self.me), Instant::now());
                        }
                        let frame = json!({"type": "typing:start", "conversationId": self.sh.conv_ids[conv]});
                        if send(sink, &frame).await {
                            self.sh.typing_n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Cmd::Drop(after)) => return End::Reconnect(after, true),
                    // The schedule is over (the final sync comes with `Shared::finish`).
                    None => self.begin_final(sink).await,
                },
            }
        }
    }

    fn send_frame(&self, id: Uuid, conv: usize) -> Value {
        json!({
            "type": "message:send", "id": id,
            "conversationId": self.sh.conv_ids[conv],
            "body": format!("load test message {}", &id.simple().to_string()[20..]),
        })
    }

    /// The final sync, once the sync in flight (if any) has ended (a new `sync` would cancel
    /// it, and its `sync:done` could not be told from the final one's).
    async fn begin_final(&mut self, sink: &mut Sink) {
        self.finished = true;
        self.sync_failures = 0;
        self.sync_retry = None;
        if self.syncing.is_none() {
            self.start_sync(sink, Instant::now(), true).await;
        }
    }

    async fn start_sync(&mut self, sink: &mut Sink, since: Instant, last: bool) {
        self.sh.set_stage(
            self.me,
            if last {
                Stage::FinalSync
            } else {
                Stage::Syncing
            },
        );
        let cursors: BTreeMap<String, u64> = self
            .views
            .iter()
            .map(|(&c, v)| (self.sh.conv_ids[c].to_string(), v.cursor))
            .collect();
        if send(sink, &json!({"type": "sync", "cursors": cursors})).await {
            self.syncing = Some((since, last));
        }
    }

    async fn on_frame(&mut self, sink: &mut Sink, text: &str) -> Option<End> {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            self.sh.error("unparsable_frame");
            return None;
        };
        match v["type"].as_str().unwrap_or_default() {
            "ack" => {
                let id = v["ref"].as_str().and_then(|s| s.parse::<Uuid>().ok())?;
                self.outbox.remove(&id);
                let first = self.sh.sent.lock().ok().and_then(|mut s| {
                    let e = s.get_mut(&id)?;
                    (!std::mem::replace(&mut e.acked, true)).then_some((e.at, e.sec))
                });
                if let Some((at, sec)) = first {
                    self.sh.acked.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut h) = self.sh.hists.lock() {
                        let us = at.elapsed().as_micros();
                        record(&mut h.ack, us);
                        record(h.ack_at(sec), us);
                    }
                }
            }
            "error" => {
                let code = v["code"].as_str().unwrap_or("unknown");
                self.sh.error(code);
                if code == "token_expired" {
                    self.renew().await;
                    return Some(End::Reconnect(backoff(1, None), false));
                }
                // A send the edge could not store: again with the same id, after a backoff.
                if matches!(code, "unavailable" | "rate_limited")
                    && let Some(id) = v["ref"].as_str().and_then(|s| s.parse::<Uuid>().ok())
                    && self.outbox.contains_key(&id)
                {
                    self.resends
                        .push_back((Instant::now() + backoff(4, None), id));
                    return None;
                }
                // A failed sync never sends `sync:done`: try again after a backoff; after too
                // many failures in a row, wait for the next reconnect (or give up, at the end).
                if v["ref"] == "sync"
                    && let Some((since, last)) = self.syncing.take()
                {
                    // A sync that failed after the finish was given is retried as the final one.
                    let last = last || self.finished;
                    self.sync_failures += 1;
                    if self.sync_failures < SYNC_ATTEMPTS {
                        let wait = backoff(self.sync_failures + 3, None);
                        self.sync_retry = Some((Instant::now() + wait, since, last));
                        self.sh.set_stage(self.me, Stage::Live);
                    } else if last {
                        let _ = sink.close().await;
                        return Some(End::Finished);
                    }
                }
            }
            "message:new" => self.on_message(sink, &v["message"], true).await,
            "messages:offline" => {
                if let Some(ms) = v["messages"].as_array() {
                    for m in ms {
                        self.on_message(sink, m, false).await;
                    }
                }
            }
            "sync:done" => {
                if let Some((since, last)) = self.syncing.take() {
                    self.sync_failures = 0;
                    self.sh.set_stage(self.me, Stage::Live);
                    self.deliver_cursors(sink).await;
                    if last {
                        let _ = sink.close().await;
                        return Some(End::Finished);
                    }
                    if let Ok(mut h) = self.sh.hists.lock() {
                        record(&mut h.resync, since.elapsed().as_micros());
                    }
                    self.sh.resynced.fetch_add(1, Ordering::Relaxed);
                    // The finish came while this sync ran: now the final one.
                    if self.finished {
                        self.start_sync(sink, Instant::now(), true).await;
                    }
                }
            }
            "typing" if v["state"] == "start" => {
                let conv = self.sh.conv_of(&v["conversationId"])?;
                let user = self.sh.user_of(&v["userId"])?;
                let at = self
                    .sh
                    .typing_sent
                    .lock()
                    .ok()
                    .and_then(|mut t| t.remove(&(conv, user)));
                if let (Some(at), Ok(mut h)) = (at, self.sh.hists.lock()) {
                    record(&mut h.typing, at.elapsed().as_micros());
                }
            }
            "message:status" => {
                let conv = self.sh.conv_of(&v["conversationId"])?;
                let user = self.sh.user_of(&v["userId"])?;
                if user == self.me {
                    return None;
                }
                let read = v["readSeq"].as_u64().unwrap_or(0);
                let at =
                    self.sh
                        .read_sent
                        .lock()
                        .ok()
                        .and_then(|mut r| match r.get(&(conv, user)) {
                            Some((seq, _)) if *seq <= read => {
                                r.remove(&(conv, user)).map(|(_, at)| at)
                            }
                            _ => None,
                        });
                if let (Some(at), Ok(mut h)) = (at, self.sh.hists.lock()) {
                    record(&mut h.status, at.elapsed().as_micros());
                }
            }
            "reconnect" => {
                let after = v["afterMs"].as_u64().unwrap_or(1000);
                return Some(End::Reconnect(Duration::from_millis(after), false));
            }
            _ => {}
        }
        None
    }

    async fn on_message(&mut self, sink: &mut Sink, m: &Value, live: bool) {
        let (Some(conv), Some(seq), Some(id)) = (
            self.sh.conv_of(&m["conversationId"]),
            m["seq"].as_u64(),
            m["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()),
        ) else {
            return;
        };
        let Some(view) = self.views.get_mut(&conv) else {
            return;
        };
        match view.insert(seq, id, live) {
            Insert::Conflict => {
                self.sh.duplicated.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Insert::Again => {
                if seq > view.base {
                    self.sh.redelivered.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Insert::New => {}
        }
        if !live || self.sh.user_of(&m["senderId"]) == Some(self.me) {
            return;
        }
        self.sh.received.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .sh
            .sent
            .lock()
            .ok()
            .and_then(|s| s.get(&id).map(|e| (e.at, e.sec)));
        if let (Some((at, sec)), Ok(mut h)) = (sent, self.sh.hists.lock()) {
            let us = at.elapsed().as_micros();
            record(&mut h.recv, us);
            record(h.recv_at(sec), us);
        }
        // A real client reports delivery of what it got, and reads a share of it.
        if seq > self.delivered.get(&conv).copied().unwrap_or(0) {
            self.delivered.insert(conv, seq);
            let frame = json!({"type": "message:delivered", "conversationId": self.sh.conv_ids[conv], "seq": seq});
            if send(sink, &frame).await {
                self.sh.delivered_n.fetch_add(1, Ordering::Relaxed);
            }
        }
        if rand::random_bool(self.sh.read_share) {
            if let Ok(mut r) = self.sh.read_sent.lock() {
                r.insert((conv, self.me), (seq, Instant::now()));
            }
            let frame = json!({"type": "message:read", "conversationId": self.sh.conv_ids[conv], "seq": seq});
            if send(sink, &frame).await {
                self.sh.reads_n.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// After a sync, report delivery up to the new cursors, as a client catching up does.
    async fn deliver_cursors(&mut self, sink: &mut Sink) {
        let moved: Vec<(usize, u64)> = self
            .views
            .iter()
            .filter(|(c, v)| {
                v.cursor > v.base && v.cursor > self.delivered.get(c).copied().unwrap_or(0)
            })
            .map(|(&c, v)| (c, v.cursor))
            .collect();
        for (conv, seq) in moved {
            self.delivered.insert(conv, seq);
            let frame = json!({"type": "message:delivered", "conversationId": self.sh.conv_ids[conv], "seq": seq});
            if send(sink, &frame).await {
                self.sh.delivered_n.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn send(sink: &mut Sink, frame: &Value) -> bool {
    sink.send(Message::Text(frame.to_string().into()))
        .await
        .is_ok()
}

/// Reads until `ready`, an `error` (the token refused), or a close / 15 s (failed).
async fn wait_ready(ws: &mut Ws) -> Authed {
    let deadline = tokio::time::sleep(Duration::from_secs(15));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Authed::Failed,
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("ready") => return Authed::Ready,
                        Some("error") => return Authed::Refused,
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                _ => return Authed::Failed,
            }
        }
    }
}
