//! Presence: each connection's lifecycle for the presence worker, and the presence a viewer may
//! see of others (the directory decides whom; the presence worker says what).

use chrono::Utc;
use parley_contracts::api::PresenceSetStatus;
use parley_contracts::endpoint;
use parley_contracts::error::ApiError;
use parley_contracts::events::{PresenceAction, PresenceCommand};
use parley_contracts::svc::{PresenceGet, PresenceReply, PresenceVisible, UserIds, UserPresence};
use parley_contracts::{SCHEMA_VERSION, subjects};
use parley_kit::service::request;
use uuid::Uuid;

use crate::state::AppState;

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
