use axum::Json;
use axum::extract::{Path, Query, State};
use parley_contracts::api::{SearchQuery, UpdateMeRequest, User, UserList};
use parley_contracts::subjects::svc;
use parley_contracts::svc::{UserGet, UserSearch, UserUpdate};
use parley_kit::nats::request;

use super::{Body, parse_id};
use crate::auth::AuthUser;
use crate::error::Result;
use crate::state::AppState;

pub async fn me(State(s): State<AppState>, AuthUser(c): AuthUser) -> Result<Json<User>> {
    Ok(Json(
        request(
            &s.nats,
            svc::USER_GET,
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
        request(
            &s.nats,
            svc::USER_UPDATE,
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
    Query(q): Query<SearchQuery>,
) -> Result<Json<UserList>> {
    Ok(Json(
        request(
            &s.nats,
            svc::USER_SEARCH,
            &UserSearch {
                actor: c.sub,
                q: q.q,
            },
        )
        .await?,
    ))
}

pub async fn get(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>> {
    let user_id = parse_id(&id)?;
    Ok(Json(
        request(
            &s.nats,
            svc::USER_GET,
            &UserGet {
                actor: c.sub,
                user_id,
            },
        )
        .await?,
    ))
}
