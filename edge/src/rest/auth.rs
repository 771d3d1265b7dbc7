use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use parley_contracts::api::{AuthResponse, LoginRequest, RefreshRequest, RegisterRequest};
use parley_contracts::subjects::svc;
use parley_contracts::svc::Empty;
use parley_kit::nats::request;

use super::Body;
use crate::error::Result;
use crate::state::AppState;

pub async fn register(
    State(s): State<AppState>,
    Body(req): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>)> {
    let r: AuthResponse = request(&s.nats, svc::REGISTER, &req).await?;
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
    Ok(Json(request(&s.nats, svc::LOGIN, &login).await?))
}

pub async fn refresh(
    State(s): State<AppState>,
    Body(req): Body<RefreshRequest>,
) -> Result<Json<AuthResponse>> {
    Ok(Json(request(&s.nats, svc::REFRESH, &req).await?))
}

pub async fn logout(
    State(s): State<AppState>,
    Body(req): Body<RefreshRequest>,
) -> Result<StatusCode> {
    let _: Empty = request(&s.nats, svc::LOGOUT, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}
