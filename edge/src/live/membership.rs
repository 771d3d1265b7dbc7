//! Membership checks: a conversation answers a non-member exactly as one that does not exist.

use parley_contracts::ErrorCode;
use parley_contracts::error::ApiError;
use uuid::Uuid;

use crate::state::AppState;

/// Conversations answer non-members exactly as if they did not exist.
pub async fn require_member(s: &AppState, user: Uuid, conversation: Uuid) -> Result<(), ApiError> {
    match s.members.role(conversation, user).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(ErrorCode::NotFound, "no such conversation")),
    }
}
