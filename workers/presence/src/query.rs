//! `svc.presence.get`: what others see of a set of users. Callers apply privacy settings; this
//! reports the shown status only, so "invisible" reads as offline.

use parley_contracts::ErrorCode;
use parley_contracts::error::ApiError;
use parley_contracts::svc::{PresenceGet, PresenceReply, UserPresence};

use crate::Ctx;

/// Ids per request at most (one Redis pipeline).
pub const MAX_IDS: usize = 1_000;

pub async fn get(ctx: &Ctx, req: PresenceGet) -> Result<PresenceReply, ApiError> {
    if req.user_ids.len() > MAX_IDS {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("at most {MAX_IDS} user ids per request"),
        ));
    }
    let states = ctx.store.get(&req.user_ids).await.map_err(|error| {
        tracing::error!(%error, "presence lookup failed");
        ApiError::new(
            ErrorCode::Unavailable,
            "presence is unavailable; retry shortly",
        )
    })?;
    Ok(PresenceReply {
        users: req
            .user_ids
            .into_iter()
            .zip(states)
            .map(|(user_id, (status, last_seen))| UserPresence {
                user_id,
                status,
                last_seen,
            })
            .collect(),
    })
}
