//! NATS connection and typed request/reply over JSON.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_nats::Client;
use bytes::Bytes;
use parley_contracts::ErrorCode;
use parley_contracts::error::ApiError;
use parley_contracts::svc::Reply;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::breaker::{Breaker, backoff};
use crate::metrics_names as m;

/// Connect with unlimited reconnects (the client buffers while NATS restarts) and a name that
/// shows in `nats server report connections`. `name` is also the binary's NATS role
/// (`parley-edge`): its replies come to that role's inbox prefix, the only one its
/// permissions let it subscribe to (`parley_jetstream::auth`). `creds` is its seed file.
pub async fn connect(url: &str, name: &str, creds: Option<&Path>) -> anyhow::Result<Client> {
    let client = parley_jetstream::auth::connect_options(creds, name)?
        .retry_on_initial_connect()
        .max_reconnects(None)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .event_callback(|event| async move {
            match event {
                // A refused key or a subject outside the role's permissions: the operation
                // was dropped, so it is a misconfiguration to see at once.
                async_nats::Event::ServerError(_) => {
                    tracing::warn!(%event, "nats connection event")
                }
                _ => tracing::info!(%event, "nats connection event"),
            }
        })
        .connect(server_addrs(url)?)
        .await?;
    // retry_on_initial_connect returns at once; give the first connection a moment so start-up
    // logs are honest, without failing if NATS comes up later.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.connection_state() != async_nats::connection::State::Connected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(client)
}

/// Parse `PARLEY_NATS_URL`: one URL or a comma-separated list (every node of a cluster, so
/// the first connection does not depend on one node being up). async-nats parses a `&str` as
/// a single URL, so the list is split here.
pub fn server_addrs(urls: &str) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
    let addrs = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| anyhow::anyhow!("invalid NATS URL {u:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!addrs.is_empty(), "no NATS URL given");
    Ok(addrs)
}

/// How long a caller waits for a service's reply; also the deadline it sends along.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Milliseconds since the Unix epoch, the unit of the deadline header.
pub(crate) fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Consecutive transport failures after which calls to one service are refused for a while.
const BREAKER_THRESHOLD: u32 = 5;
/// Attempts of a request that found no responder (it reached no handler, so a retry is safe).
const NO_RESPONDER_ATTEMPTS: u32 = 3;

/// One breaker per service (`svc.<service>.…`), so one service being down does not refuse
/// calls to the others.
fn breaker(subject: &'static str) -> std::sync::Arc<Breaker> {
    static BREAKERS: OnceLock<Mutex<HashMap<&'static str, std::sync::Arc<Breaker>>>> =
        OnceLock::new();
    let service = subject.split('.').nth(1).unwrap_or(subject);
    let map = BREAKERS.get_or_init(Mutex::default);
    let mut map = match map.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(service)
        .or_insert_with(|| {
            std::sync::Arc::new(Breaker::new(
                service,
                BREAKER_THRESHOLD,
                Duration::from_millis(500),
                Duration::from_secs(10),
            ))
        })
        .clone()
}

fn unavailable() -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        "a backend service is unavailable; retry shortly",
    )
}

/// Send a JSON request to a Parley service and decode its [`Reply`]. The current trace id
/// (or a new one) travels in the `Parley-Trace-Id` header.
///
/// Degrades instead of waiting: while NATS is disconnected, or the service's breaker is open
/// after repeated transport failures, the answer is an immediate `unavailable`. A request that
/// found no responder is retried a few times with backoff; a timeout is not (the service may
/// have acted on it). Malformed replies are `internal`.
pub async fn request<Req, Resp>(
    client: &Client,
    subject: &'static str,
    req: &Req,
) -> Result<Resp, ApiError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let payload = Bytes::from(
        serde_json::to_vec(req)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("encode request: {e}")))?,
    );
    if client.connection_state() != async_nats::connection::State::Connected {
        tracing::warn!(subject, "NATS disconnected; service request refused");
        return Err(unavailable());
    }
    let room = client
        .max_payload()
        .saturating_sub(parley_contracts::limits::NATS_HEADER_ROOM);
    if payload.len() > room {
        tracing::error!(
            subject,
            bytes = payload.len(),
            limit = room,
            "service request too large"
        );
        return Err(ApiError::new(
            ErrorCode::Internal,
            "the request is too large for a backend service",
        ));
    }
    let breaker = breaker(subject);
    if !breaker.allow() {
        tracing::debug!(subject, "breaker open; service request refused");
        return Err(unavailable());
    }
    let mut headers = async_nats::HeaderMap::new();
    crate::trace::inject(&mut headers);
    headers.insert(
        parley_contracts::svc::DEADLINE_HEADER,
        (unix_ms() + REQUEST_TIMEOUT.as_millis())
            .to_string()
            .as_str(),
    );
    let started = Instant::now();
    let mut attempt = 1;
    let result = loop {
        let r = client
            .request_with_headers(subject, headers.clone(), payload.clone())
            .await;
        match r {
            Err(e)
                if e.kind() == async_nats::RequestErrorKind::NoResponders
                    && attempt < NO_RESPONDER_ATTEMPTS =>
            {
                tokio::time::sleep(backoff(
                    attempt,
                    Duration::from_millis(50),
                    Duration::from_millis(500),
                ))
                .await;
                attempt += 1;
            }
            other => break other,
        }
    };
    let outcome = if result.is_ok() {
        "ok"
    } else {
        "transport_error"
    };
    metrics::histogram!(m::NATS_REQUEST_SECONDS, "endpoint" => subject, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    let msg = match result {
        Ok(msg) => {
            breaker.success();
            msg
        }
        // A request refused before it left (too large, bad subject) is the caller's fault, not
        // the service's: it must not count against the breaker every caller shares.
        Err(e)
            if matches!(
                e.kind(),
                async_nats::RequestErrorKind::MaxPayloadExceeded
                    | async_nats::RequestErrorKind::InvalidSubject
            ) =>
        {
            tracing::error!(subject, error = %e, "service request not sent");
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the request could not be sent to a backend service",
            ));
        }
        Err(e) => {
            breaker.failure();
            tracing::warn!(subject, error = %e, "service request failed");
            return Err(unavailable());
        }
    };
    let reply: Reply<Resp> = serde_json::from_slice(&msg.payload).map_err(|e| {
        tracing::error!(subject, error = %e, "malformed service reply");
        ApiError::new(
            ErrorCode::Internal,
            "malformed reply from a backend service",
        )
    })?;
    reply.into_result()
}

/// What every binary opens at start-up: the NATS connection, its JetStream context with the
/// streams provisioned (idempotently), and a readiness that watches the connection.
pub struct Fabric {
    pub nats: Client,
    pub js: async_nats::jetstream::Context,
    pub readiness: crate::ops::Readiness,
}

impl Fabric {
    pub async fn connect(common: &crate::CommonArgs, name: &str) -> anyhow::Result<Self> {
        let nats = connect(&common.nats_url, name, common.nats_creds.as_deref()).await?;
        let js = async_nats::jetstream::new(nats.clone());
        // Only `parley-jetstream apply` may create or change streams: here that succeeds when
        // they are provisioned as defined, and fails otherwise.
        parley_jetstream::apply_streams(
            &js,
            parley_jetstream::Topology {
                replicas: common.stream_replicas,
            },
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e} (streams are provisioned by `parley-jetstream apply`; a binary may only read them)"
            )
        })?;
        let readiness = crate::ops::Readiness::new();
        crate::ops::nats_check(&readiness, nats.clone());
        Ok(Self {
            nats,
            js,
            readiness,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_comma_separated_list_names_every_node() {
        let addrs = super::server_addrs("nats://a:4222, nats://b:4222,nats://c:4222").unwrap();
        assert_eq!(addrs.len(), 3);
        assert!(super::server_addrs("nats://a:4222,nats://a:x").is_err());
        assert!(super::server_addrs(" ").is_err());
    }
}
