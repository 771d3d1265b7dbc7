//! Request/reply services: a queue-group subscription, bounded concurrency, JSON in and out,
//! typed by the endpoints `parley_contracts::endpoint` declares. Callers use [`request`];
//! services dispatch each subject to a typed handler with [`handle`].

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_nats::Client;
use bytes::Bytes;
use futures::StreamExt;
use parley_contracts::ErrorCode;
use parley_contracts::endpoint::{self, Endpoint};
use parley_contracts::error::ApiError;
use parley_contracts::svc::Reply;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics_names as m;

/// Decode a request body or answer `bad_request`.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(payload)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid request: {e}")))
}

/// Encode a handler result as a [`Reply`].
pub fn encode<T: Serialize>(result: Result<T, ApiError>) -> Bytes {
    let reply: Reply<T> = result.into();
    match serde_json::to_vec(&reply) {
        Ok(v) => Bytes::from(v),
        Err(_) => Bytes::from_static(br#"{"error":{"code":"internal","message":"encode reply"}}"#),
    }
}

/// Send `req` to endpoint `E` and decode its reply (see [`crate::nats::request`] for how a
/// request degrades while a service is down).
pub async fn request<E: Endpoint>(client: &Client, req: &E::Request) -> Result<E::Reply, ApiError> {
    crate::nats::request(client, E::SUBJECT, req).await
}

/// A service's answer to one request: the encoded [`Reply`] and whether it is a success (the
/// handler's `Result`, counted as `outcome="ok"` or `"error"`).
pub struct Answer {
    pub reply: Bytes,
    pub ok: bool,
}

impl Answer {
    pub fn of<T: Serialize>(result: Result<T, ApiError>) -> Self {
        Self {
            ok: result.is_ok(),
            reply: encode(result),
        }
    }

    /// A subject of the service's wildcard that names no endpoint.
    pub fn unknown(subject: &str) -> Self {
        Self::of::<()>(Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no endpoint {subject}"),
        )))
    }
}

/// Decode `payload` as `E`'s request, run the handler, encode its reply: one arm of a service's
/// dispatch, `E::SUBJECT => handle::<E, _, _>(ctx, &payload, module::handler).await`.
pub async fn handle<'a, E, C, Fut>(
    ctx: &'a C,
    payload: &[u8],
    handler: impl FnOnce(&'a C, E::Request) -> Fut,
) -> Answer
where
    E: Endpoint,
    C: ?Sized,
    Fut: Future<Output = Result<E::Reply, ApiError>> + 'a,
{
    match decode::<E::Request>(payload) {
        Ok(req) => Answer::of(handler(ctx, req).await),
        Err(e) => Answer::of::<()>(Err(e)),
    }
}

/// Serve `subject` (a wildcard such as `svc.directory.>`) in queue group `queue` until
/// `shutdown`, then wait for in-flight requests. `handler` gets the concrete subject and payload.
pub async fn serve<H, F>(
    client: Client,
    subject: &'static str,
    queue: &'static str,
    concurrency: usize,
    shutdown: CancellationToken,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(String, Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let mut sub = client.queue_subscribe(subject, queue.to_string()).await?;
    let limit = Arc::new(Semaphore::new(concurrency));
    let handler = Arc::new(handler);
    let mut tasks = JoinSet::new();
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            msg = sub.next() => msg,
        };
        let Some(msg) = msg else { break };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        // Its caller stopped waiting while it queued: answering would only delay the requests
        // behind it, which can still be answered in time.
        if expired(msg.headers.as_ref()) {
            metrics::counter!(m::SERVICE_REQUESTS, "service" => queue, "endpoint" => endpoint_label(&msg.subject), "outcome" => "expired")
                .increment(1);
            continue;
        }
        let client = client.clone();
        let handler = handler.clone();
        // The caller's trace id (or a new one) spans the handling and any request it makes.
        let trace = crate::trace::from_headers(msg.headers.as_ref()).unwrap_or_default();
        tasks.spawn(crate::trace::scope(trace, async move {
            let _permit = permit;
            let started = Instant::now();
            let endpoint = endpoint_label(&msg.subject);
            let Answer { reply, ok } = handler(msg.subject.to_string(), msg.payload).await;
            let size = reply.len();
            let reply = fit_reply(reply, client.max_payload(), queue, endpoint);
            // A reply too large to send was replaced by an error.
            let outcome = if ok && reply.len() == size { "ok" } else { "error" };
            tracing::debug!(service = queue, %endpoint, outcome, "request handled");
            metrics::counter!(m::SERVICE_REQUESTS, "service" => queue, "endpoint" => endpoint, "outcome" => outcome)
                .increment(1);
            metrics::histogram!(m::SERVICE_SECONDS, "service" => queue, "endpoint" => endpoint)
                .record(started.elapsed().as_secs_f64());
            if let Some(reply_to) = msg.reply
                && let Err(error) = client.publish(reply_to, reply).await
            {
                tracing::warn!(%error, "reply publish failed");
            }
        }));
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let _ = sub.unsubscribe().await;
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// A reply must fit in one NATS message: one that would not is answered `internal` (and
/// logged) instead, because its publish would fail and leave the caller waiting for its time-out,
/// which counts against the service's breaker. Handlers bound their replies
/// (`limits::MAX_REPLY_BYTES`); this catches what one missed.
pub fn fit_reply(reply: Bytes, max_payload: usize, service: &str, endpoint: &str) -> Bytes {
    let limit = parley_contracts::limits::MAX_REPLY_BYTES
        .min(max_payload.saturating_sub(parley_contracts::limits::NATS_HEADER_ROOM));
    if reply.len() <= limit {
        return reply;
    }
    tracing::error!(
        service,
        endpoint,
        bytes = reply.len(),
        limit,
        "service reply too large to send; answered internal"
    );
    encode::<()>(Err(ApiError::new(
        ErrorCode::Internal,
        format!(
            "the reply ({} bytes) exceeds the {limit}-byte limit",
            reply.len()
        ),
    )))
}

/// Whether a request's deadline ([`parley_contracts::svc::DEADLINE_HEADER`]) has passed. A
/// request without one (or with an unreadable one) has not expired.
fn expired(headers: Option<&async_nats::HeaderMap>) -> bool {
    let Some(deadline) = headers
        .and_then(|h| h.get(parley_contracts::svc::DEADLINE_HEADER))
        .and_then(|v| v.as_str().parse::<u128>().ok())
    else {
        return false;
    };
    crate::nats::unix_ms() > deadline
}

/// The endpoint a subject names (the declared set); anything else is folded into `other`, so
/// a caller cannot create label values.
fn endpoint_label(subject: &str) -> &'static str {
    endpoint::find(subject).unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversize_reply_becomes_an_internal_error() {
        let small = encode::<u32>(Ok(7));
        assert_eq!(fit_reply(small.clone(), 1 << 20, "s", "e"), small);
        let big = encode::<String>(Ok("x".repeat(2 << 20)));
        let fitted = fit_reply(big, 1 << 20, "s", "e");
        let reply: Reply<String> = serde_json::from_slice(&fitted).unwrap();
        assert_eq!(reply.into_result().unwrap_err().code, ErrorCode::Internal);
        // A server configured below the contract's limit is honoured too.
        let mid = encode::<String>(Ok("x".repeat(100_000)));
        assert!(fit_reply(mid, 64 * 1024, "s", "e").len() < 1024);
    }
}
