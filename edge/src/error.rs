//! The one error type of REST answers: a stable `code`, a human message, the matching status.
//! Causes are logged where they happen and never sent to clients.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_contracts::ErrorCode;
use parley_contracts::error::ApiError;

pub struct EdgeError(pub ApiError);

impl EdgeError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message))
    }
}

impl From<ApiError> for EdgeError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = matches!(self.0.code, ErrorCode::RateLimited | ErrorCode::Unavailable);
        let mut resp = (status, Json(self.0)).into_response();
        if retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

pub type Result<T> = std::result::Result<T, EdgeError>;
