//! Accepting a command (WebSocket or REST alike): validate → membership → publish to
//! `chat.cmd.msg.<conversation>` with `Nats-Msg-Id = id`. The caller awaits the PubAck and
//! only then tells the client `accepted`.

use std::time::Instant;

use std::future::Future;
use std::pin::Pin;

use chrono::Utc;
use parley_contracts::api::Role;
use parley_contracts::events::{MessageAction, MessageCommand};
use parley_contracts::frames::ClientFrame;
use parley_contracts::limits::MAX_MENTIONS;
use parley_contracts::{ErrorCode, SCHEMA_VERSION, error::ApiError, subjects, validate};
use parley_kit::batch::{Outgoing, PublishError};
use parley_kit::metrics_names as m;
use uuid::Uuid;

use crate::state::AppState;

/// A command frame turned into what goes on the stream (not yet membership-checked).
pub fn from_frame(frame: ClientFrame) -> Option<(Uuid, Uuid, MessageAction)> {
    Some(match frame {
        ClientFrame::MessageSend {
            id,
            conversation_id,
            body,
            reply_to,
            mentions,
            forward_from,
        } => (
            id,
            conversation_id,
            MessageAction::Send {
                body,
                reply_to,
                mentions,
                forward_from,
            },
        ),
        ClientFrame::MessageEdit {
            id,
            conversation_id,
            message_id,
            body,
        } => (
            id,
            conversation_id,
            MessageAction::Edit { message_id, body },
        ),
        ClientFrame::MessageDelete {
            id,
            conversation_id,
            message_id,
        } => (
            id,
            conversation_id,
            MessageAction::Delete {
                message_id,
                as_admin: false,
            },
        ),
        ClientFrame::ReactionAdd {
            id,
            conversation_id,
            message_id,
            emoji,
        } => (
            id,
            conversation_id,
            MessageAction::ReactionAdd { message_id, emoji },
        ),
        ClientFrame::ReactionRemove {
            id,
            conversation_id,
            message_id,
            emoji,
        } => (
            id,
            conversation_id,
            MessageAction::ReactionRemove { message_id, emoji },
        ),
        _ => return None,
    })
}

/// Message ids are UUIDv7 so that they sort by creation time and cannot collide by accident.
fn check_id(id: Uuid) -> Result<(), ApiError> {
    if id.get_version_num() != 7 {
        return Err(ApiError::new(ErrorCode::InvalidId, "id must be a UUIDv7"));
    }
    Ok(())
}

/// Validate and hand to the group committer; returns the store future (await it before
/// acknowledging).
pub async fn accept(
    state: &AppState,
    user: Uuid,
    id: Uuid,
    conversation: Uuid,
    mut action: MessageAction,
) -> Result<Stored, ApiError> {
    check_id(id)?;
    match &action {
        MessageAction::Send {
            body,
            mentions,
            forward_from,
            ..
        } => {
            if forward_from.is_none() {
                validate::body(body)?;
            }
            if mentions.len() > MAX_MENTIONS {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("at most {MAX_MENTIONS} mentions"),
                ));
            }
        }
        MessageAction::Edit { body, .. } => validate::body(body)?,
        MessageAction::ReactionAdd { emoji, .. } | MessageAction::ReactionRemove { emoji, .. } => {
            validate::emoji(emoji)?
        }
        MessageAction::Delete { .. } => {}
    }
    if !state.user_rate.try_take(user) {
        metrics::counter!(m::EDGE_RATE_LIMITED, "scope" => "user").increment(1);
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "you are sending too fast; slow down",
        ));
    }
    let members = state.members.members(conversation).await?;
    let Some(role) = members.iter().find(|(u, _)| *u == user).map(|(_, r)| *r) else {
        return Err(ApiError::new(
            ErrorCode::NotMember,
            "you are not a member of this conversation",
        ));
    };
    if state.members.blocked(conversation).await? {
        return Err(ApiError::new(
            ErrorCode::Blocked,
            "this conversation is blocked; nobody can send in it",
        ));
    }
    match &mut action {
        MessageAction::Send {
            mentions,
            forward_from,
            ..
        } => {
            if mentions
                .iter()
                .any(|u| !members.iter().any(|(m, _)| m == u))
            {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "mentions must name members of the conversation",
                ));
            }
            if let Some(f) = forward_from
                && state.members.role(f.conversation_id, user).await?.is_none()
            {
                return Err(ApiError::new(
                    ErrorCode::NotMember,
                    "you are not a member of the source conversation",
                ));
            }
        }
        MessageAction::Delete { as_admin, .. } => *as_admin = role == Role::Admin,
        _ => {}
    }
    let cmd = MessageCommand {
        v: SCHEMA_VERSION,
        id,
        conversation_id: conversation,
        sender_id: user,
        accepted_at: Utc::now(),
        action,
    };
    let payload = serde_json::to_vec(&cmd)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "encode command"))?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.to_string().as_str());
    // The REST request's trace id, or a new one per WebSocket command.
    parley_kit::trace::inject(&mut headers);
    let stored = state
        .committer
        .publish(Outgoing {
            subject: subjects::cmd_msg(conversation),
            headers,
            payload: payload.into(),
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "command publish failed");
            ApiError::new(
                ErrorCode::Unavailable,
                "the message could not be queued; retry with the same id",
            )
        })?;
    Ok(Box::pin(stored))
}

/// A command on its way into JetStream (resolves once stored).
pub type Stored = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send>>;

/// Await the store: only a stored command is reported `accepted`.
pub async fn confirm(ack: Stored, started: Instant) -> Result<(), ApiError> {
    let r = ack.await;
    metrics::histogram!(m::JETSTREAM_PUBLISH_SECONDS).record(started.elapsed().as_secs_f64());
    match r {
        Ok(_) => {
            metrics::counter!(m::EDGE_MESSAGES_ACCEPTED).increment(1);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "command not acknowledged by JetStream");
            Err(ApiError::new(
                ErrorCode::Unavailable,
                "the message could not be stored; retry with the same id",
            ))
        }
    }
}
