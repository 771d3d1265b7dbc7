use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
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

pub async fn login(
    State(s): State<AppState>,
    Body(req): Body<LoginRequest>,
) -> Result<Json<AuthResponse>> {
    Ok(Json(request::<endpoint::Login>(&s.nats, &req).await?))
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
