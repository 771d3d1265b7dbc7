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
        .fallback(not_found)
}

/// JSON body whose rejection is our error shape (`bad_request` + what was wrong). No field of
/// any request may hold a NUL: PostgreSQL text cannot store one, so it would otherwise surface
/// as a storage error deep in a worker instead of a 400 here.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = EdgeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(EdgeError::new(
                ErrorCode::BadRequest,
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| EdgeError::new(ErrorCode::BadRequest, rejection.body_text()))?;
        if has_escaped_nul(&bytes) {
            return Err(EdgeError::new(
                ErrorCode::BadRequest,
                "NUL characters are not accepted in any field",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(EdgeError::new(ErrorCode::BadRequest, rejection.body_text())),
        }
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether a JSON text holds `\u0000` as an escape (a raw NUL is invalid JSON anyway). A
/// backslash that is itself escaped (`\\u0000`, the six characters `\u0000`) does not count.
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.len() >= i + 6 && json[i + 1] == b'u' && &json[i + 2..i + 6] == b"0000" {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Query-string parameters whose rejection is our error shape, not axum's `text/plain`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = EdgeError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(EdgeError::new(
                ErrorCode::BadRequest,
                "NUL characters are not accepted in any parameter",
            ));
        }
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|rejection| EdgeError::new(ErrorCode::BadRequest, rejection.body_text()))
    }
}

/// Any path under `/api` that names no route: the documented error shape, never the web page.
pub async fn not_found() -> EdgeError {
    EdgeError::new(ErrorCode::NotFound, "no such API route")
}

pub fn parse_id(raw: &str) -> Result<Uuid, EdgeError> {
    Uuid::parse_str(raw).map_err(|_| EdgeError::new(ErrorCode::InvalidId, "path id must be a UUID"))
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn escaped_nul_is_found_but_an_escaped_backslash_is_not_one() {
        assert!(has_escaped_nul(br#"{"q":"a\u0000"}"#));
        assert!(has_escaped_nul(br#"{"q":"\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"q":"\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"q":"plain \n text"}"#));
    }
}
