//! NATS connection and typed request/reply over JSON.

use std::time::{Duration, Instant};

use async_nats::Client;
use bytes::Bytes;
use parley_contracts::ErrorCode;
use parley_contracts::error::ApiError;
use parley_contracts::svc::Reply;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::metrics_names as m;

/// Connect with unlimited reconnects (the client buffers while NATS restarts) and a name that
/// shows in `nats server report connections`.
pub async fn connect(url: &str, name: &str) -> anyhow::Result<Client> {
    let client = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .request_timeout(Some(Duration::from_secs(5)))
        .event_callback(|event| async move {
            tracing::info!(%event, "nats connection event");
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

/// Send a JSON request to a Parley service and decode its [`Reply`].
/// Transport failures become `unavailable`; malformed replies `internal`.
pub async fn request<Req, Resp>(
    client: &Client,
    subject: &'static str,
    req: &Req,
) -> Result<Resp, ApiError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let payload = serde_json::to_vec(req)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("encode request: {e}")))?;
    let started = Instant::now();
    let result = client.request(subject, Bytes::from(payload)).await;
    let outcome = if result.is_ok() {
        "ok"
    } else {
        "transport_error"
    };
    metrics::histogram!(m::NATS_REQUEST_SECONDS, "endpoint" => subject, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    let msg = result.map_err(|e| {
        tracing::warn!(subject, error = %e, "service request failed");
        ApiError::new(
            ErrorCode::Unavailable,
            "a backend service is unavailable; retry shortly",
        )
    })?;
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
        let nats = connect(&common.nats_url, name).await?;
        let js = async_nats::jetstream::new(nats.clone());
        parley_jetstream::apply_streams(
            &js,
            parley_jetstream::Topology {
                replicas: common.stream_replicas,
            },
        )
        .await?;
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
