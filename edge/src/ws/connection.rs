//! One WebSocket connection: auth → `ready` → one task that reads client frames, the user's
//! delivery subject, publish acknowledgements and keepalive, and writes the socket as it can
//! take frames (see [`super::outbox`]).
//!
//! Live traffic is queued without waiting: a client that falls `outbound_queue` frames or
//! `ws_outbound_bytes` bytes behind, or takes no frame for `ws_write_timeout_seconds` while
//! some wait, is a slow consumer: its queue is dropped and it is closed with
//! [`CLOSE_SLOW_CONSUMER`]; it will `sync` when it reconnects. Paced feeds (a sync's batches,
//! the contacts' presence) come from helper tasks over a small channel that is read only while
//! the queue is short, so they stream only as fast as the client reads.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{FuturesUnordered, SplitSink, SplitStream};
use futures::{Future, SinkExt, StreamExt};
use parley_contracts::api::AckStatus;
use parley_contracts::error::ApiError;
use parley_contracts::events::{MessageAction, PresenceAction, ReceiptKind};
use parley_contracts::frames::{CLIENT_FRAME_TYPES, ClientFrame, FrameHead, ServerFrame};
use parley_contracts::{ErrorCode, subjects};
use parley_kit::metrics_names as m;
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use uuid::Uuid;

use super::outbox::Outbox;
use super::seen::SeenEvents;
use crate::auth::Claims;
use crate::ratelimit::Bucket;
use crate::state::AppState;
use crate::{commands, live};

/// Commands awaiting their PubAck per connection; beyond it the connection stops reading.
const MAX_IN_FLIGHT: usize = 128;
/// A paced feed is read only while fewer frames than this wait for the socket (and less than
/// half its byte limit).
const FEED_ROOM: usize = 4;
/// Close code for a slow consumer (documented in docs/protocol.md): reconnect and `sync`.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;

type Pending = Pin<Box<dyn Future<Output = (Uuid, Result<(), ApiError>)> + Send>>;

struct ConnectionGauge;
impl ConnectionGauge {
    fn new() -> Self {
        metrics::gauge!(m::EDGE_CONNECTIONS).increment(1.0);
        metrics::counter!(m::EDGE_CONNECTIONS_TOTAL).increment(1);
        Self
    }
}
impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!(m::EDGE_CONNECTIONS).decrement(1.0);
    }
}

fn text(frame: &ServerFrame) -> Message {
    Message::Text(frame.to_json().into())
}

/// A helper task's frames, delivered as the socket takes them; `None` once it is done.
type Feed = Option<mpsc::Receiver<Message>>;

fn feed() -> (mpsc::Sender<Message>, Feed) {
    let (tx, rx) = mpsc::channel(FEED_ROOM);
    (tx, Some(rx))
}

/// The next frame of a feed (`None` when it ended); never resolves without a feed.
async fn next_fed(feed: &mut Feed) -> Option<Message> {
    match feed {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

pub async fn run(
    socket: WebSocket,
    s: AppState,
    _permit: OwnedSemaphorePermit,
    preauth: Option<Claims>,
) {
    let _gauge = ConnectionGauge::new();
    let (mut sink, mut stream) = socket.split();
    let claims = match preauth {
        Some(c) => c,
        // Boxed: the handshake's state is not worth keeping in every idle connection's task.
        None => match Box::pin(authenticate(&s, &mut stream)).await {
            Ok(c) => c,
            Err(e) => {
                let _ = sink
                    .send(text(&ServerFrame::error(None, e.code, e.message)))
                    .await;
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: 4001,
                        reason: "unauthenticated".into(),
                    })))
                    .await;
                return;
            }
        },
    };
    let user = claims.sub;
    let mut conn = Conn {
        s: s.clone(),
        user,
        expires: claims.exp,
        outbox: Outbox::new(s.settings.outbound_queue, s.settings.ws_outbound_bytes),
        bucket: Bucket::new(s.settings.conn_rate, s.settings.conn_burst),
        frames: Bucket::new(s.settings.conn_frame_rate, s.settings.conn_frame_burst),
        pending: FuturesUnordered::new(),
        sync_task: None,
        sync_feed: None,
        contacts_feed: None,
        last_seen: Instant::now(),
        typing: Default::default(),
        connection_id: Uuid::now_v7(),
        receipts_sent: Default::default(),
        seen_events: Default::default(),
    };
    match s.nats.subscribe(subjects::user(user)).await {
        Ok(sub) => {
            conn.push(&ServerFrame::Ready { user_id: user });
            live::presence(&s, user, conn.connection_id, PresenceAction::Connect, None).await;
            let (tx, contacts_feed) = feed();
            conn.contacts_feed = contacts_feed;
            let contacts = tokio::spawn(push_contacts_presence(s.clone(), user, tx));
            conn.run(&mut stream, &mut sink, sub).await;
            contacts.abort();
            live::presence(
                &s,
                user,
                conn.connection_id,
                PresenceAction::Disconnect,
                None,
            )
            .await;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot subscribe to the user's subject");
            conn.push(&ServerFrame::error(
                None,
                ErrorCode::Unavailable,
                "messaging backend unavailable; reconnect",
            ));
        }
    }
    if let Some(t) = conn.sync_task.take() {
        t.abort();
    }
    conn.typing.disconnected(&s, user).await;
    // What is still queued (an error, a close frame) goes out if the client takes it in time.
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.outbox.write(&mut sink)).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), sink.close()).await;
}

/// A new device learns its contacts' presence (as far as their privacy settings allow) once;
/// changes then arrive as `presence` frames.
async fn push_contacts_presence(s: AppState, user: Uuid, out: mpsc::Sender<Message>) {
    let Ok(slot) = s.catchup.clone().acquire_owned().await else {
        return;
    };
    let visible = live::visible_presence(&s, user, None).await;
    // The slot bounds the load on the services, not a socket's pace: a client that does not
    // read must not hold it.
    drop(slot);
    match visible {
        Ok(list) => {
            for p in list.into_iter().filter(|p| p.user_id != user) {
                let frame = ServerFrame::Presence {
                    user_id: p.user_id,
                    status: p.status,
                    last_seen: p.last_seen,
                };
                if out.send(text(&frame)).await.is_err() {
                    break;
                }
            }
        }
        Err(error) => tracing::debug!(%error, "contacts' presence unavailable"),
    }
}

/// The first frame must be `auth` with a valid token, within the auth timeout.
async fn authenticate(
    s: &AppState,
    stream: &mut SplitStream<WebSocket>,
) -> Result<Claims, ApiError> {
    let timeout = Duration::from_secs(s.settings.auth_timeout_seconds);
    let first = tokio::time::timeout(timeout, async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) => return Some(t),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::NotAuthenticated, "no auth frame in time"))?
    .ok_or_else(|| ApiError::new(ErrorCode::NotAuthenticated, "expected an auth frame"))?;
    match serde_json::from_str::<ClientFrame>(&first) {
        Ok(ClientFrame::Auth { token }) => s.verifier.verify(&token),
        _ => Err(ApiError::new(
            ErrorCode::NotAuthenticated,
            "the first frame must be {\"type\":\"auth\",\"token\":…}",
        )),
    }
}

struct Conn {
    s: AppState,
    user: Uuid,
    expires: u64,
    outbox: Outbox,
    bucket: Bucket,
    /// Every frame, valid or not, spends from this before any work is done for it.
    frames: Bucket,
    pending: FuturesUnordered<Pending>,
    sync_task: Option<tokio::task::JoinHandle<()>>,
    /// The running sync's batches.
    sync_feed: Feed,
    /// The contacts' presence a new device is told once.
    contacts_feed: Feed,
    last_seen: Instant,
    typing: super::typing::Typing,
    /// This socket's identity for presence (one user may have many).
    connection_id: Uuid,
    /// Highest delivered/read seq already forwarded per conversation: a client re-reporting
    /// an old watermark costs nothing downstream.
    receipts_sent: HashMap<(Uuid, ReceiptKind), u64>,
    /// Message events forwarded lately (an event may be routed twice).
    seen_events: SeenEvents,
}

/// Conversations whose sent receipts a connection remembers at most.
const RECEIPT_MEMORY: usize = 1024;

enum Flow {
    Continue,
    Close,
}

impl Conn {
    /// Queue a frame; false when the client is too slow (the queue is full).
    fn push(&mut self, frame: &ServerFrame) -> bool {
        self.push_raw(text(frame))
    }

    /// Queue a frame; when the client is too far behind, give up on it (see [`Self::slow`])
    /// and answer false: the caller ends the connection.
    fn push_raw(&mut self, msg: Message) -> bool {
        let ok = self.outbox.push(msg);
        if !ok {
            self.slow("queue_full");
        }
        ok
    }

    /// A frame of a paced feed: read only while the queue is short, so it is always taken.
    fn push_paced(&mut self, msg: Message) {
        self.outbox.push_paced(msg);
    }

    /// Give up on a client that does not read: drop what waits for it (it will `sync`) and
    /// queue only the close frame, which it gets if it reads again before the socket is shut.
    fn slow(&mut self, reason: &'static str) {
        metrics::counter!(m::EDGE_SLOW_CONSUMERS, "reason" => reason).increment(1);
        tracing::info!(user = %self.user, reason, "slow consumer disconnected");
        self.outbox.clear();
        self.outbox.push_paced(Message::Close(Some(CloseFrame {
            code: CLOSE_SLOW_CONSUMER,
            reason: "slow consumer; reconnect and sync".into(),
        })));
    }

    fn error(&mut self, reference: Option<String>, e: ApiError) -> bool {
        metrics::counter!(m::EDGE_FRAME_ERRORS, "code" => e.code.as_str()).increment(1);
        self.push(&ServerFrame::error(reference, e.code, e.message))
    }

    async fn run(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        sink: &mut SplitSink<WebSocket, Message>,
        mut sub: async_nats::Subscriber,
    ) {
        let ping_every = Duration::from_secs(self.s.settings.ping_seconds.max(1));
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut heartbeat = tokio::time::interval(Duration::from_secs(
            self.s.settings.presence_heartbeat_seconds.max(1),
        ));
        heartbeat.tick().await;
        let draining = self.s.draining.clone();
        let write_timeout = Duration::from_secs(self.s.settings.ws_write_timeout_seconds.max(1));
        loop {
            let until_expiry = Duration::from_secs(self.expires.saturating_sub(now_secs()));
            let feed_room = self.outbox.len() < FEED_ROOM
                && self.outbox.bytes() < self.s.settings.ws_outbound_bytes / 2;
            let stalled = self.outbox.stalled_for();
            tokio::select! {
                written = self.outbox.write(sink), if self.outbox.busy() => {
                    if written.is_err() { break; }
                }
                _ = draining.cancelled() => {
                    let jitter = self.s.settings.reconnect_jitter_ms;
                    let after_ms = if jitter == 0 { 0 } else { rand::rng().random_range(0..=jitter) };
                    self.push(&ServerFrame::Reconnect { after_ms });
                    self.push_raw(Message::Close(Some(CloseFrame { code: 1012, reason: "server restarting".into() })));
                    break;
                }
                Some((id, result)) = self.pending.next(), if !self.pending.is_empty() => {
                    let ok = match result {
                        Ok(()) => self.push(&ServerFrame::Ack { reference: id, status: AckStatus::Accepted }),
                        Err(e) => self.error(Some(id.to_string()), e),
                    };
                    if !ok { break; }
                }
                delivered = sub.next() => {
                    let Some(msg) = delivered else { break };
                    if let Some(key) = msg.headers.as_ref().and_then(|h| h.get(subjects::EVENT_KEY_HEADER))
                        && !self.seen_events.first_time(key.as_str().as_bytes())
                    {
                        metrics::counter!(m::EDGE_DUPLICATE_EVENTS).increment(1);
                        continue;
                    }
                    let Ok(body) = String::from_utf8(msg.payload.to_vec()) else { continue };
                    if !self.push_raw(Message::Text(body.into())) { break; }
                }
                frame = stream.next(), if self.pending.len() < MAX_IN_FLIGHT => {
                    self.last_seen = Instant::now();
                    let flow = match frame {
                        Some(Ok(Message::Text(t))) => {
                            metrics::counter!(m::EDGE_FRAMES_IN).increment(1);
                            // Boxed: a frame's handling is brief, and its state would
                            // otherwise be part of every idle connection's task.
                            Box::pin(self.on_text(t.as_str())).await
                        }
                        Some(Ok(Message::Binary(_))) => {
                            if self.error(None, ApiError::new(ErrorCode::InvalidFrame, "binary frames are not supported; send JSON text")) { Flow::Continue } else { Flow::Close }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                        Some(Ok(Message::Close(_))) | None => Flow::Close,
                        Some(Err(error)) => {
                            tracing::debug!(%error, "socket error");
                            Flow::Close
                        }
                    };
                    if matches!(flow, Flow::Close) { break; }
                }
                fed = next_fed(&mut self.sync_feed), if feed_room && self.sync_feed.is_some() => {
                    match fed {
                        Some(msg) => self.push_paced(msg),
                        None => self.sync_feed = None,
                    }
                }
                fed = next_fed(&mut self.contacts_feed), if feed_room && self.contacts_feed.is_some() => {
                    match fed {
                        Some(msg) => self.push_paced(msg),
                        None => self.contacts_feed = None,
                    }
                }
                _ = heartbeat.tick() => {
                    Box::pin(live::presence(&self.s, self.user, self.connection_id, PresenceAction::Heartbeat, None)).await;
                }
                _ = ping.tick() => {
                    if self.last_seen.elapsed() > ping_every * 3 {
                        tracing::debug!(user = %self.user, "keepalive timeout");
                        break;
                    }
                    if !self.push_raw(Message::Ping(Default::default())) { break; }
                }
                // Frames wait and the socket has taken none for the write time-out: it does not
                // read (the sleep is re-armed from the last progress on every turn).
                _ = tokio::time::sleep(write_timeout.saturating_sub(stalled)), if self.outbox.busy() => {
                    if self.outbox.stalled_for() >= write_timeout {
                        self.slow("write_timeout");
                        break;
                    }
                }
                _ = tokio::time::sleep(until_expiry) => {
                    self.error(None, ApiError::new(ErrorCode::TokenExpired, "access token expired; reconnect with a fresh token"));
                    self.push_raw(Message::Close(Some(CloseFrame { code: 4001, reason: "token expired".into() })));
                    break;
                }
            }
        }
        let _ = sub.unsubscribe().await;
    }

    async fn on_text(&mut self, raw: &str) -> Flow {
        if !self.frames.try_take() {
            metrics::counter!(m::EDGE_RATE_LIMITED, "scope" => "frames").increment(1);
            return flow(self.rate_limited(None));
        }
        let head: FrameHead = match serde_json::from_str(raw) {
            Ok(h) => h,
            Err(_) => {
                return flow(self.error(
                    None,
                    ApiError::new(ErrorCode::InvalidFrame, "frame is not a JSON object"),
                ));
            }
        };
        let reference = head.reference();
        let frame: ClientFrame = match serde_json::from_str(raw) {
            Ok(f) => f,
            Err(e) => {
                let known = head
                    .kind
                    .as_ref()
                    .and_then(|k| k.as_str())
                    .is_some_and(|k| CLIENT_FRAME_TYPES.contains(&k));
                let err = if known {
                    ApiError::new(ErrorCode::BadRequest, format!("invalid frame: {e}"))
                } else {
                    ApiError::new(ErrorCode::UnknownType, "unknown or missing frame type")
                };
                return flow(self.error(reference, err));
            }
        };
        match frame {
            ClientFrame::Auth { token } => match self.s.verifier.verify(&token) {
                // Re-authentication extends a live connection with a fresh token.
                Ok(c) if c.sub == self.user => {
                    self.expires = c.exp;
                    flow(self.push(&ServerFrame::Ready { user_id: self.user }))
                }
                Ok(_) => flow(self.error(
                    None,
                    ApiError::new(ErrorCode::Forbidden, "token is for another user"),
                )),
                Err(e) => flow(self.error(None, e)),
            },
            ClientFrame::TypingStart { conversation_id } => {
                // A typing hint for a conversation not cached costs a membership lookup:
                // it spends from the command budget like a command.
                if !self.take_token() {
                    return flow(self.rate_limited(reference));
                }
                match self.typing.start(&self.s, self.user, conversation_id).await {
                    Ok(()) => Flow::Continue,
                    Err(e) => flow(self.error(reference, e)),
                }
            }
            ClientFrame::TypingStop { conversation_id } => {
                match self.typing.stop(&self.s, self.user, conversation_id).await {
                    Ok(()) => Flow::Continue,
                    Err(e) => flow(self.error(reference, e)),
                }
            }
            ClientFrame::MessageDelivered {
                conversation_id,
                seq,
            } => {
                self.receipt(reference, conversation_id, ReceiptKind::Delivered, seq)
                    .await
            }
            ClientFrame::MessageRead {
                conversation_id,
                seq,
            } => {
                self.receipt(reference, conversation_id, ReceiptKind::Read, seq)
                    .await
            }
            ClientFrame::PresenceSet { status } => {
                if !self.take_token() {
                    return flow(self.rate_limited(reference));
                }
                live::presence(
                    &self.s,
                    self.user,
                    self.connection_id,
                    PresenceAction::Set,
                    Some(status),
                )
                .await;
                Flow::Continue
            }
            ClientFrame::Ping { reference } => flow(self.push(&ServerFrame::Pong { reference })),
            ClientFrame::Sync { cursors } => {
                if let Some(t) = self.sync_task.take() {
                    t.abort();
                }
                let (tx, sync_feed) = feed();
                self.sync_feed = sync_feed;
                self.sync_task = Some(super::sync::spawn(self.s.clone(), self.user, cursors, tx));
                Flow::Continue
            }
            cmd => {
                let Some((id, conversation, action)) = commands::from_frame(cmd) else {
                    return flow(self.error(
                        reference,
                        ApiError::new(ErrorCode::UnknownType, "unsupported frame"),
                    ));
                };
                if !self.take_token() {
                    return flow(self.rate_limited(Some(id.to_string())));
                }
                if let MessageAction::Send { .. } = action {
                    self.typing.sent(&self.s, self.user, conversation).await;
                }
                let started = Instant::now();
                match commands::accept(&self.s, self.user, id, conversation, action).await {
                    Ok(ack) => {
                        self.pending.push(Box::pin(async move {
                            (id, commands::confirm(ack, started).await)
                        }));
                        Flow::Continue
                    }
                    Err(e) => flow(self.error(Some(id.to_string()), e)),
                }
            }
        }
    }

    fn take_token(&mut self) -> bool {
        let ok = self.bucket.try_take();
        if !ok {
            metrics::counter!(m::EDGE_RATE_LIMITED, "scope" => "connection").increment(1);
        }
        ok
    }

    fn rate_limited(&mut self, reference: Option<String>) -> bool {
        self.error(
            reference,
            ApiError::new(
                ErrorCode::RateLimited,
                "you are sending too fast; slow down",
            ),
        )
    }

    /// Forward a watermark unless this socket already reported one at least as high (read
    /// implies delivered). Nothing is acknowledged: `message:status` is the answer.
    async fn receipt(
        &mut self,
        reference: Option<String>,
        conversation: Uuid,
        kind: ReceiptKind,
        seq: u64,
    ) -> Flow {
        let sent = |k| {
            self.receipts_sent
                .get(&(conversation, k))
                .copied()
                .unwrap_or(0)
        };
        let already = match kind {
            ReceiptKind::Delivered => sent(ReceiptKind::Delivered).max(sent(ReceiptKind::Read)),
            ReceiptKind::Read => sent(ReceiptKind::Read),
        };
        if seq != 0 && seq <= already {
            return Flow::Continue;
        }
        if !self.take_token() {
            return flow(self.rate_limited(reference));
        }
        match live::receipt(&self.s, self.user, conversation, kind, seq).await {
            // The PubAck is not awaited: a lost receipt is superseded by the next one.
            Ok(_ack) => {
                if self.receipts_sent.len() >= RECEIPT_MEMORY {
                    self.receipts_sent.clear();
                }
                self.receipts_sent.insert((conversation, kind), seq);
                Flow::Continue
            }
            Err(e) => flow(self.error(reference, e)),
        }
    }
}

fn flow(ok: bool) -> Flow {
    if ok { Flow::Continue } else { Flow::Close }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
