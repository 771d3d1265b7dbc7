//! Receipts and presence at the edge, shared by the WebSocket and REST paths: membership
//! checks, publishing receipt commands and presence lifecycle, and showing watermarks and
//! presence to a viewer under the owners' privacy settings.

use chrono::Utc;
use parley_contracts::api::{PresenceSetStatus, Receipt, ReceiptList};
use parley_contracts::endpoint;
use parley_contracts::error::ApiError;
use parley_contracts::events::{PresenceAction, PresenceCommand, ReceiptCommand, ReceiptKind};
use parley_contracts::svc::{
    PresenceGet, PresenceReply, PresenceVisible, ReceiptsGet, UserIds, UserPresence,
};
use parley_contracts::{ErrorCode, SCHEMA_VERSION, subjects};
use parley_kit::service::request;
use parley_kit::settings::visible_read_seq;
use uuid::Uuid;

use crate::commands::Stored;
use crate::state::AppState;

/// Conversations answer non-members exactly as if they did not exist.
pub async fn require_member(s: &AppState, user: Uuid, conversation: Uuid) -> Result<(), ApiError> {
    match s.members.role(conversation, user).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(ErrorCode::NotFound, "no such conversation")),
    }
}

/// Publish a delivered/read watermark for the receipts worker; await the returned future to
/// know it is stored in the stream.
pub async fn receipt(
    s: &AppState,
    user: Uuid,
    conversation: Uuid,
    kind: ReceiptKind,
    seq: u64,
) -> Result<Stored, ApiError> {
    if seq == 0 || seq > i64::MAX as u64 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "seq must be a positive conversation sequence number",
        ));
    }
    require_member(s, user, conversation).await?;
    let cmd = ReceiptCommand {
        v: SCHEMA_VERSION,
        conversation_id: conversation,
        user_id: user,
        kind,
        seq,
        at: Utc::now(),
    };
    let payload = serde_json::to_vec(&cmd)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "encode receipt"))?;
    // Through the group committer, like messages: under load receipts (one per delivered
    // message) join the groups that go out as one atomic batch, where a publish of their own
    // would cost a synced write each. No `Nats-Msg-Id`: a repeated watermark is harmless.
    let stored = s
        .committer
        .publish(parley_kit::batch::Outgoing {
            subject: subjects::cmd_receipt(conversation),
            headers: async_nats::HeaderMap::new(),
            payload: payload.into(),
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "receipt publish failed");
            ApiError::new(ErrorCode::Unavailable, "receipt not recorded; retry")
        })?;
    Ok(Box::pin(stored))
}

/// Every member's watermarks as `viewer` may see them (members without receipts at 0).
pub async fn receipts(
    s: &AppState,
    viewer: Uuid,
    conversation: Uuid,
) -> Result<ReceiptList, ApiError> {
    let members = s.members.members(conversation).await?;
    if !members.iter().any(|(u, _)| *u == viewer) {
        return Err(ApiError::new(ErrorCode::NotFound, "no such conversation"));
    }
    let stored: ReceiptList = request::<endpoint::ReceiptsGet>(
        &s.nats,
        &ReceiptsGet {
            conversation_id: conversation,
        },
    )
    .await?;
    let ids: Vec<Uuid> = members.iter().map(|(u, _)| *u).collect();
    let settings = s.read_settings.read_receipts(&ids).await?;
    let receipts = ids
        .iter()
        .map(|u| {
            let r = stored.receipts.iter().find(|r| r.user_id == *u);
            let (d, rd) = r.map(|r| (r.delivered_seq, r.read_seq)).unwrap_or((0, 0));
            Receipt {
                user_id: *u,
                delivered_seq: d,
                read_seq: visible_read_seq(&settings, viewer, *u, rd),
            }
        })
        .collect();
    Ok(ReceiptList { receipts })
}

/// Tell the presence worker about this connection (core publish: a lost heartbeat is replaced
/// by the next; a lost disconnect by the TTL).
pub async fn presence(
    s: &AppState,
    user: Uuid,
    connection: Uuid,
    action: PresenceAction,
    status: Option<PresenceSetStatus>,
) {
    let cmd = PresenceCommand {
        v: SCHEMA_VERSION,
        user_id: user,
        connection_id: connection,
        action,
        status,
        ttl_seconds: s.settings.presence_ttl_seconds,
        at: Utc::now(),
    };
    let Ok(payload) = serde_json::to_vec(&cmd) else {
        return;
    };
    if let Err(error) = s
        .nats
        .publish(subjects::presence(user), payload.into())
        .await
    {
        tracing::debug!(%error, "presence publish failed");
    }
}

/// Presence of `users` (all of the actor's contacts when `None`) that the actor may see.
pub async fn visible_presence(
    s: &AppState,
    actor: Uuid,
    users: Option<Vec<Uuid>>,
) -> Result<Vec<UserPresence>, ApiError> {
    let visible: UserIds = request::<endpoint::PresenceVisible>(
        &s.nats,
        &PresenceVisible {
            actor,
            user_ids: users,
        },
    )
    .await?;
    if visible.user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let reply: PresenceReply = request::<endpoint::PresenceGet>(
        &s.nats,
        &PresenceGet {
            user_ids: visible.user_ids,
        },
    )
    .await?;
    Ok(reply.users)
}
