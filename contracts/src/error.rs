//! Stable error codes. Clients branch on these; the human message may change, the code never.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidFrame,
    UnknownType,
    InvalidId,
    BodyTooLong,
    BodyEmpty,
    NotAuthenticated,
    InvalidToken,
    TokenExpired,
    Forbidden,
    NotFound,
    NotMember,
    RateLimited,
    Conflict,
    UsernameTaken,
    InvalidCredentials,
    GroupFull,
    EditWindowClosed,
    /// A direct conversation in which one member blocked the other.
    Blocked,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidFrame => "invalid_frame",
            Self::UnknownType => "unknown_type",
            Self::InvalidId => "invalid_id",
            Self::BodyTooLong => "body_too_long",
            Self::BodyEmpty => "body_empty",
            Self::NotAuthenticated => "not_authenticated",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::NotMember => "not_member",
            Self::RateLimited => "rate_limited",
            Self::Conflict => "conflict",
            Self::UsernameTaken => "username_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::GroupFull => "group_full",
            Self::EditWindowClosed => "edit_window_closed",
            Self::Blocked => "blocked",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status a REST answer with this code carries.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest
            | Self::InvalidFrame
            | Self::UnknownType
            | Self::InvalidId
            | Self::BodyTooLong
            | Self::BodyEmpty => 400,
            Self::NotAuthenticated | Self::InvalidToken | Self::TokenExpired => 401,
            Self::InvalidCredentials => 401,
            Self::Forbidden | Self::NotMember | Self::EditWindowClosed | Self::Blocked => 403,
            Self::NotFound => 404,
            Self::Conflict | Self::UsernameTaken | Self::GroupFull => 409,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error body of REST answers and of service replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
