//! Minimal HTTP and WebSocket clients that speak Parley's documented wire protocol.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

#[derive(Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub username: String,
    pub token: String,
    pub refresh: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// A client whose connections come from `local` (e.g. 127.0.0.2: another loopback address,
    /// to act as a second client address).
    pub fn from_address(base: &str, local: std::net::IpAddr) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().local_address(local).build()?,
        })
    }

    /// Any request; returns (status, JSON body or Null).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    pub async fn register(&self, prefix: &str) -> anyhow::Result<Session> {
        let username = format!("{prefix}_{}", &Uuid::now_v7().simple().to_string()[24..]);
        let (status, body) = self
            .call("POST", "/auth/register", None, Some(json!({"username": username, "password": "correct horse battery", "displayName": prefix})))
            .await?;
        if status != 201 {
            bail!("register failed: {status} {body}");
        }
        Ok(Session {
            id: body["user"]["id"].as_str().context("user.id")?.parse()?,
            username,
            token: body["accessToken"]
                .as_str()
                .context("accessToken")?
                .to_string(),
            refresh: body["refreshToken"]
                .as_str()
                .context("refreshToken")?
                .to_string(),
        })
    }

    /// Alice and Bob, registered, in a direct conversation: the start of most tests.
    pub async fn direct_pair(&self) -> anyhow::Result<(Session, Session, Uuid)> {
        let alice = self.register("alice").await?;
        let bob = self.register("bob").await?;
        let conv = self.conversation(&alice, "direct", &[&bob], None).await?;
        Ok((alice, bob, conv))
    }

    pub async fn conversation(
        &self,
        who: &Session,
        kind: &str,
        members: &[&Session],
        name: Option<&str>,
    ) -> anyhow::Result<Uuid> {
        let ids: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
        let (status, body) = self
            .call(
                "POST",
                "/conversations",
                Some(&who.token),
                Some(json!({"type": kind, "memberIds": ids, "name": name})),
            )
            .await?;
        if status != 201 && status != 200 {
            bail!("create conversation failed: {status} {body}");
        }
        Ok(body["id"].as_str().context("id")?.parse()?)
    }
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames received but not yet taken by a `recv_until`.
    backlog: Vec<Value>,
}

impl Ws {
    /// Connect and authenticate with an `auth` frame; waits for `ready`.
    pub async fn connect(base: &str, token: &str) -> anyhow::Result<Self> {
        let mut ws = Self::connect_raw(base).await?;
        ws.send(json!({"type": "auth", "token": token})).await?;
        ws.recv_type("ready").await?;
        Ok(ws)
    }

    /// Like [`Ws::connect`], with the TCP connection made from `local`.
    pub async fn connect_from(
        base: &str,
        token: &str,
        local: std::net::IpAddr,
    ) -> anyhow::Result<Self> {
        let url = format!("{}/ws", base.replacen("http", "ws", 1));
        let host = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse::<std::net::SocketAddr>()?;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::new(local, 0))?;
        let tcp = socket.connect(host).await?;
        let (stream, _) =
            tokio_tungstenite::client_async_with_config(url, MaybeTlsStream::Plain(tcp), None)
                .await?;
        let mut ws = Self {
            stream,
            backlog: Vec::new(),
        };
        ws.send(json!({"type": "auth", "token": token})).await?;
        ws.recv_type("ready").await?;
        Ok(ws)
    }

    pub async fn connect_raw(base: &str) -> anyhow::Result<Self> {
        let url = format!("{}/ws", base.replacen("http", "ws", 1));
        let (stream, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
        Ok(Self {
            stream,
            backlog: Vec::new(),
        })
    }

    pub async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        self.send_text(frame.to_string()).await
    }

    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.stream.send(Message::Text(text.into())).await?;
        Ok(())
    }

    pub async fn send_message(&mut self, conversation: Uuid, body: &str) -> anyhow::Result<Uuid> {
        let id = Uuid::now_v7();
        self.send(
            json!({"type": "message:send", "id": id, "conversationId": conversation, "body": body}),
        )
        .await?;
        Ok(id)
    }

    /// Next text frame as JSON; None when the socket closed.
    pub async fn recv(&mut self, within: Duration) -> anyhow::Result<Option<Value>> {
        if !self.backlog.is_empty() {
            return Ok(Some(self.backlog.remove(0)));
        }
        loop {
            let next = tokio::time::timeout(within, self.stream.next())
                .await
                .context("timed out waiting for a frame")?;
            match next {
                Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(&t)?)),
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => continue,
                Some(Err(_)) => return Ok(None),
            }
        }
    }

    /// The first frame matching `pred` (others are kept for later calls).
    pub async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return Ok(self.backlog.remove(i));
        }
        let deadline = tokio::time::Instant::now() + crate::TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let next = tokio::time::timeout(left, self.stream.next())
                .await
                .context("timed out waiting for a matching frame")?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t)?;
                    if pred(&v) {
                        return Ok(v);
                    }
                    self.backlog.push(v);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    bail!("socket closed while waiting")
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Drop every frame received or in flight now (quiet for `quiet`), so that a following
    /// check sees only frames caused by what happens next.
    pub async fn drain(&mut self, quiet: Duration) {
        self.backlog.clear();
        while let Ok(Some(Ok(_))) = tokio::time::timeout(quiet, self.stream.next()).await {}
    }

    /// Whether a frame matching `pred` arrives within `within` (others are kept).
    pub async fn sees_within(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        if let Some(i) = self.backlog.iter().position(&pred) {
            self.backlog.remove(i);
            return true;
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let Ok(v) = serde_json::from_str::<Value>(&t) else {
                        continue;
                    };
                    if pred(&v) {
                        return true;
                    }
                    self.backlog.push(v);
                }
                Ok(Some(Ok(_))) => {}
                _ => return false,
            }
        }
    }

    pub async fn recv_type(&mut self, kind: &str) -> anyhow::Result<Value> {
        self.recv_until(|v| v["type"] == kind).await
    }

    /// Whether the server closed the socket within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return false,
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Drop the TCP connection without a close handshake.
    pub fn abort(self) {
        drop(self.stream);
    }
}
