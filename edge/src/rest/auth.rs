use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use parley_contracts::api::{AuthResponse, LoginRequest, RefreshRequest, RegisterRequest};
use parley_contracts::endpoint;
use parley_contracts::svc::Empty;
use parley_kit::service::request;

use super::Body;
use crate::error::Result;
use crate::state::AppState;

pub async fn register(
    State(s): State<AppState>,
    Body(req): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>)> {
    let r: AuthResponse = request::<endpoint::Register>(&s.nats, &req).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// The directory counts failed sign-ins per account and client address, so it is told the
/// address.
pub async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(req): Body<LoginRequest>,
) -> Result<Json<AuthResponse>> {
    let client = crate::client_addr::client_ip(&headers, peer, s.settings.trust_forwarded_for);
    let login = parley_contracts::svc::Login {
        username: req.username,
        password: req.password,
        client: Some(client.to_string()),
    };
    Ok(Json(request::<endpoint::Login>(&s.nats, &login).await?))
}

pub async fn refresh(
    State(s): State<AppState>,
    Body(req): Body<RefreshRequest>,
) -> Result<Json<AuthResponse>> {
    Ok(Json(request::<endpoint::Refresh>(&s.nats, &req).await?))
}

pub async fn logout(
    State(s): State<AppState>,
    Body(req): Body<RefreshRequest>,
) -> Result<StatusCode> {
    let _: Empty = request::<endpoint::Logout>(&s.nats, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}
