use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_contracts::api::{Accepted, AckStatus, HistoryQuery, MessagePage, SendMessageRequest};
use parley_contracts::endpoint;
use parley_contracts::events::MessageAction;
use parley_contracts::limits::SYNC_BATCH;
use parley_contracts::svc::HistoryPage;
use parley_contracts::{ErrorCode, error::ApiError};
use parley_kit::service::request;

use super::{Body, Params, parse_id};
use crate::auth::AuthUser;
use crate::commands;
use crate::error::Result;
use crate::state::AppState;

pub async fn history(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<MessagePage>> {
    let conversation_id = parse_id(&id)?;
    if s.members.role(conversation_id, c.sub).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such conversation").into());
    }
    let page = HistoryPage {
        conversation_id,
        before: q.before,
        limit: q.limit.unwrap_or(SYNC_BATCH),
    };
    Ok(Json(
        request::<endpoint::HistoryPage>(&s.nats, &page).await?,
    ))
}

/// REST send: the same checks and idempotency as `message:send`; 202 once JetStream has it.
pub async fn send(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    Body(body): Body<SendMessageRequest>,
) -> Result<(StatusCode, Json<Accepted>)> {
    let conversation_id = parse_id(&id)?;
    let started = Instant::now();
    let action = MessageAction::Send {
        body: body.body,
        reply_to: body.reply_to,
        mentions: body.mentions,
        forward_from: None,
    };
    let ack = commands::accept(&s, c.sub, body.id, conversation_id, action).await?;
    commands::confirm(ack, started).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            id: body.id,
            status: AckStatus::Accepted,
        }),
    ))
}
