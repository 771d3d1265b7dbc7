//! Typing notifications of one connection: at most one `start` per second per conversation,
//! a `stop` only after a `start`, and a `stop` for every conversation still "typing" when the
//! socket goes away — so receivers do not wait for the 3-second expiry after a crash of the
//! client (an edge crash still falls back to that expiry).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use parley_contracts::error::ApiError;
use parley_contracts::events::TypingEvent;
use parley_contracts::frames::TypingState;
use parley_contracts::{ErrorCode, SCHEMA_VERSION, subjects};
use uuid::Uuid;

use crate::state::AppState;

const THROTTLE: Duration = Duration::from_secs(1);
/// A start older than this is expired for receivers anyway; no stop needed.
const EXPIRY: Duration = Duration::from_secs(3);

#[derive(Default)]
pub struct Typing {
    /// Conversation → when the last `start` was published.
    active: HashMap<Uuid, Instant>,
}

impl Typing {
    pub async fn start(
        &mut self,
        s: &AppState,
        user: Uuid,
        conversation: Uuid,
    ) -> Result<(), ApiError> {
        if self
            .active
            .get(&conversation)
            .is_some_and(|at| at.elapsed() < THROTTLE)
        {
            return Ok(());
        }
        member(s, user, conversation).await?;
        if self.active.len() >= 64 && !self.active.contains_key(&conversation) {
            self.active.retain(|_, at| at.elapsed() < EXPIRY);
        }
        self.active.insert(conversation, Instant::now());
        publish(s, user, conversation, TypingState::Start).await
    }

    pub async fn stop(
        &mut self,
        s: &AppState,
        user: Uuid,
        conversation: Uuid,
    ) -> Result<(), ApiError> {
        match self.active.remove(&conversation) {
            Some(at) if at.elapsed() < EXPIRY => {
                publish(s, user, conversation, TypingState::Stop).await
            }
            _ => Ok(()),
        }
    }

    /// A sent message ends typing in its conversation.
    pub async fn sent(&mut self, s: &AppState, user: Uuid, conversation: Uuid) {
        let _ = self.stop(s, user, conversation).await;
    }

    pub async fn disconnected(&mut self, s: &AppState, user: Uuid) {
        let convs: Vec<Uuid> = self.active.keys().copied().collect();
        for c in convs {
            let _ = self.stop(s, user, c).await;
        }
    }
}

async fn member(s: &AppState, user: Uuid, conversation: Uuid) -> Result<(), ApiError> {
    match s.members.role(conversation, user).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            ErrorCode::NotMember,
            "you are not a member of this conversation",
        )),
    }
}

async fn publish(
    s: &AppState,
    user: Uuid,
    conversation: Uuid,
    state: TypingState,
) -> Result<(), ApiError> {
    let evt = TypingEvent {
        v: SCHEMA_VERSION,
        conversation_id: conversation,
        user_id: user,
        state,
        at: Utc::now(),
    };
    let payload = serde_json::to_vec(&evt)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "encode typing"))?;
    s.nats
        .publish(subjects::typing(conversation), payload.into())
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "typing could not be sent"))
}
