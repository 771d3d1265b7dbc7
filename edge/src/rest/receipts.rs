//! Read watermarks over REST, and reporting a message.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_contracts::api::{ReadRequest, ReceiptList, ReportCreated, ReportRequest};
use parley_contracts::endpoint;
use parley_contracts::events::ReceiptKind;
use parley_contracts::limits::REPORT_REASON_MAX;
use parley_contracts::svc::Report;
use parley_contracts::validate;
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::service::request;

use super::{Body, parse_id};
use crate::auth::AuthUser;
use crate::error::Result;
use crate::live;
use crate::state::AppState;

/// `PUT /conversations/{id}/read {seq}`: 204 once the receipt is in the stream.
pub async fn read(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    Body(body): Body<ReadRequest>,
) -> Result<StatusCode> {
    let conversation_id = parse_id(&id)?;
    let ack = live::receipt(&s, c.sub, conversation_id, ReceiptKind::Read, body.seq).await?;
    ack.await.map_err(|e| {
        tracing::warn!(error = %e, "receipt not acknowledged");
        ApiError::new(ErrorCode::Unavailable, "receipt not recorded; retry")
    })?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ReceiptList>> {
    let conversation_id = parse_id(&id)?;
    Ok(Json(live::receipts(&s, c.sub, conversation_id).await?))
}

/// `POST /conversations/{id}/messages/{messageId}/report {reason}`: stored for moderators.
pub async fn report(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path((id, message)): Path<(String, String)>,
    Body(body): Body<ReportRequest>,
) -> Result<(StatusCode, Json<ReportCreated>)> {
    let conversation_id = parse_id(&id)?;
    let message_id = parse_id(&message)?;
    let reason = validate::text("reason", &body.reason, REPORT_REASON_MAX, true)?;
    live::require_member(&s, c.sub, conversation_id).await?;
    let created: ReportCreated = request::<endpoint::HistoryReport>(
        &s.nats,
        &Report {
            actor: c.sub,
            conversation_id,
            message_id,
            reason: reason.to_string(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}
