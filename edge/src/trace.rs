//! Every HTTP request is handled under a trace id: the caller's `Parley-Trace-Id` if valid,
//! else a new one. It spans the edge's logs, travels on the NATS requests and commands the
//! request causes, and is echoed in the response so a client can quote it. Each request is
//! also counted by status class.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use parley_kit::trace::{self, HEADER, TraceId};

pub async fn layer(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceId::parse)
        .unwrap_or_default();
    let echo = HeaderValue::from_str(id.as_str()).ok();
    let mut resp = trace::scope(id, next.run(req)).await;
    // Status classes only: a label per route or id would be unbounded.
    let class = match resp.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!(parley_kit::metrics_names::EDGE_HTTP_REQUESTS, "status" => class)
        .increment(1);
    if let Some(v) = echo {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}
