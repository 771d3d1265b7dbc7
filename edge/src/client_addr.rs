//! Per-address budgets: which address a request comes from, and the REST middleware that
//! spends from its budget before any work is done.
//!
//! Behind a load balancer every connection comes from the balancer; with
//! `PARLEY_TRUST_FORWARDED_FOR` the edge takes the address the balancer appended to
//! `X-Forwarded-For` (the last entry: earlier ones are whatever the client claimed). IPv6
//! clients are budgeted per /64, the block one subscriber usually holds.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parley_contracts::ErrorCode;
use parley_kit::metrics_names as m;

use crate::error::EdgeError;
use crate::state::AppState;

pub fn client_ip(headers: &HeaderMap, peer: SocketAddr, trust_forwarded: bool) -> IpAddr {
    let forwarded = trust_forwarded
        .then(|| {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back()
        })
        .flatten();
    budget_key(forwarded.unwrap_or(peer.ip()))
}

fn budget_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        v4 => v4,
    }
}

/// Every REST request spends from its address's budget, failing ones too; sign-ins (register,
/// login, refresh) also from a much smaller one, since each costs an Argon2 hash or a token
/// rotation. Over budget: `429 rate_limited` with `Retry-After`.
pub async fn rest_budget(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return next.run(req).await;
    };
    let ip = client_ip(req.headers(), peer, s.settings.trust_forwarded_for);
    let path = req.uri().path();
    let sign_in = ["/auth/register", "/auth/login", "/auth/refresh"]
        .iter()
        .any(|p| path.ends_with(p));
    let wait = s
        .address_rest
        .take_or_wait(ip)
        .or_else(|| sign_in.then(|| s.address_auth.take_or_wait(ip)).flatten());
    if let Some(wait) = wait {
        let scope = if sign_in {
            "address_auth"
        } else {
            "address_rest"
        };
        metrics::counter!(m::EDGE_RATE_LIMITED, "scope" => scope).increment(1);
        tracing::info!(client = %ip, scope, "request over its address's budget");
        let mut resp = EdgeError::new(
            ErrorCode::RateLimited,
            "too many requests from this address; retry later",
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("ip"), 40000)
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted_and_only_its_last_entry() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        assert_eq!(
            client_ip(&h, peer("10.0.0.2"), false),
            peer("10.0.0.2").ip()
        );
        assert_eq!(
            client_ip(&h, peer("10.0.0.2"), true),
            peer("203.0.113.7").ip()
        );
        let junk = HeaderMap::new();
        assert_eq!(
            client_ip(&junk, peer("10.0.0.2"), true),
            peer("10.0.0.2").ip()
        );
    }

    #[test]
    fn ipv6_clients_share_their_64_block() {
        let a = client_ip(&HeaderMap::new(), peer("2001:db8:1:2::1"), false);
        let b = client_ip(&HeaderMap::new(), peer("2001:db8:1:2:ffff::9"), false);
        let c = client_ip(&HeaderMap::new(), peer("2001:db8:1:3::1"), false);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = client_ip(&HeaderMap::new(), peer("::ffff:192.0.2.1"), false);
        assert_eq!(mapped, peer("192.0.2.1").ip());
    }
}
