//! REST routes under `/api/v1`, one file per resource.

mod auth;
mod conversations;
mod messages;
mod openapi;
mod receipts;
mod users;

pub use conversations::enrich;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::routing::{delete, get, post, put};
use parley_contracts::ErrorCode;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::EdgeError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/users/me", get(users::me).patch(users::update_me))
        .route("/users/me/blocks", get(users::blocks))
        .route(
            "/users/{id}/block",
            post(users::block).delete(users::unblock),
        )
        .route("/users/search", get(users::search))
        .route("/users/{id}", get(users::get))
        .route(
            "/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/conversations/{id}",
            get(conversations::get).patch(conversations::update),
        )
        .route(
            "/conversations/{id}/members",
            post(conversations::add_members),
        )
        .route(
            "/conversations/{id}/members/{user_id}",
            delete(conversations::remove_member),
        )
        .route(
            "/conversations/{id}/messages",
            get(messages::history).post(messages::send),
        )
        .route(
            "/conversations/{id}/messages/{message_id}/report",
            post(receipts::report),
        )
        .route("/conversations/{id}/read", put(receipts::read))
        .route("/conversations/{id}/receipts", get(receipts::list))
}

/// JSON body whose rejection is our error shape (`bad_request` + what was wrong).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = EdgeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(EdgeError::new(ErrorCode::BadRequest, rejection.body_text())),
        }
    }
}

pub fn parse_id(raw: &str) -> Result<Uuid, EdgeError> {
    Uuid::parse_str(raw).map_err(|_| EdgeError::new(ErrorCode::InvalidId, "path id must be a UUID"))
}
