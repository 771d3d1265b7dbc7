use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_contracts::api::{PresenceInfo, SearchQuery, UpdateMeRequest, User, UserList};
use parley_contracts::endpoint::{self, Endpoint};
use parley_contracts::svc::{Block, Blocks, Empty, UserGet, UserSearch, UserUpdate};
use parley_kit::service::request;
use uuid::Uuid;

use super::{Body, Params, parse_id};
use crate::auth::AuthUser;
use crate::error::Result;
use crate::live;
use crate::state::AppState;

pub async fn me(State(s): State<AppState>, AuthUser(c): AuthUser) -> Result<Json<User>> {
    Ok(Json(
        request::<endpoint::UserGet>(
            &s.nats,
            &UserGet {
                actor: c.sub,
                user_id: c.sub,
            },
        )
        .await?,
    ))
}

pub async fn update_me(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Body(patch): Body<UpdateMeRequest>,
) -> Result<Json<User>> {
    Ok(Json(
        request::<endpoint::UserUpdate>(
            &s.nats,
            &UserUpdate {
                actor: c.sub,
                patch,
            },
        )
        .await?,
    ))
}

pub async fn search(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Params(q): Params<SearchQuery>,
) -> Result<Json<UserList>> {
    Ok(Json(
        request::<endpoint::UserSearch>(
            &s.nats,
            &UserSearch {
                actor: c.sub,
                q: q.q,
            },
        )
        .await?,
    ))
}

/// A profile, with status and last seen when the user's privacy setting lets the caller see them.
pub async fn get(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>> {
    let user_id = parse_id(&id)?;
    let mut user: User = request::<endpoint::UserGet>(
        &s.nats,
        &UserGet {
            actor: c.sub,
            user_id,
        },
    )
    .await?;
    // Presence is an extra: a presence outage leaves the profile readable.
    match live::visible_presence(&s, c.sub, Some(vec![user_id])).await {
        Ok(list) => {
            user.presence = list
                .into_iter()
                .find(|p| p.user_id == user_id)
                .map(|p| PresenceInfo {
                    status: p.status,
                    last_seen: p.last_seen,
                });
        }
        Err(error) => tracing::debug!(%error, "presence unavailable"),
    }
    Ok(Json(user))
}

pub async fn block(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    set_block::<endpoint::Block>(s, c.sub, &id).await
}

pub async fn unblock(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    set_block::<endpoint::Unblock>(s, c.sub, &id).await
}

async fn set_block<E: Endpoint<Request = Block, Reply = Empty>>(
    s: AppState,
    actor: Uuid,
    id: &str,
) -> Result<StatusCode> {
    let user_id = parse_id(id)?;
    request::<E>(&s.nats, &Block { actor, user_id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn blocks(State(s): State<AppState>, AuthUser(c): AuthUser) -> Result<Json<UserList>> {
    Ok(Json(
        request::<endpoint::Blocks>(&s.nats, &Blocks { actor: c.sub }).await?,
    ))
}
