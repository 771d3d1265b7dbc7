//! `/ws`: admission (connection cap, accept rate, optional token on the upgrade request) and
//! the per-connection loop.

mod connection;
mod outbox;
mod seen;
mod sync;
mod typing;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_contracts::ErrorCode;
use parley_contracts::limits::MAX_FRAME_BYTES;
use parley_kit::metrics_names as m;
use serde::Deserialize;

use crate::error::EdgeError;
use crate::state::AppState;

/// Bytes read from a socket at a time: what an idle socket keeps allocated. Chat frames are a
/// few hundred bytes; a large one is read in several steps and still arrives whole.
const SOCKET_READ_BUFFER: usize = 1024;

#[derive(Deserialize)]
pub struct WsQuery {
    access_token: Option<String>,
}

fn unavailable(reason: &'static str, retry_after_s: u64) -> Response {
    metrics::counter!(m::EDGE_CONNECTIONS_REJECTED, "reason" => reason).increment(1);
    let mut resp = EdgeError::new(
        ErrorCode::Unavailable,
        format!("edge {reason}; retry later"),
    )
    .into_response();
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub async fn upgrade(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if s.draining.is_cancelled() {
        return unavailable("draining", 1);
    }
    // One address's budget first, so a client connecting in a loop spends only its own.
    let ip = crate::client_addr::client_ip(&headers, peer, s.settings.trust_forwarded_for);
    if let Some(wait) = s.address_accept.take_or_wait(ip) {
        tracing::info!(client = %ip, "connects over the address's budget");
        metrics::counter!(m::EDGE_CONNECTIONS_REJECTED, "reason" => "address_rate").increment(1);
        let mut resp = EdgeError::new(
            ErrorCode::RateLimited,
            "too many connections from this address; retry later",
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let wait = match s.accept_rate.lock() {
        Ok(mut bucket) => {
            if bucket.try_take() {
                None
            } else {
                Some(bucket.wait_seconds().ceil().max(1.0) as u64)
            }
        }
        Err(_) => None,
    };
    if let Some(wait) = wait {
        return unavailable("accept_rate", wait);
    }
    let Ok(permit) = s.connections.clone().try_acquire_owned() else {
        return unavailable("full", 5);
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or(q.access_token);
    let preauth = match token {
        Some(t) => match s.verifier.verify(&t) {
            Ok(c) => Some(c),
            Err(e) => return EdgeError(e).into_response(),
        },
        None => None,
    };
    let tracker = s.conn_tasks.clone();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        // The library preallocates its read buffer per socket (128 KiB by default): most of an
        // idle connection's memory. Chat frames are small; a large one still arrives whole.
        .read_buffer_size(SOCKET_READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| tracker.track_future(connection::run(socket, s, permit, preauth)))
}
