//! Access-token verification with the directory's Ed25519 public key (no secret at the edge),
//! and the `AuthUser` extractor for REST routes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use parley_contracts::ErrorCode;
use parley_contracts::error::ApiError;
use parley_kit::metrics_names as m;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::EdgeError;
use crate::state::AppState;

pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    #[serde(default)]
    pub name: String,
    pub exp: u64,
}

impl Verifier {
    pub fn from_public_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let key = DecodingKey::from_ed_pem(pem)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&["parley"]);
        validation.leeway = 5;
        Ok(Self { key, validation })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        if token.len() > 4096 {
            return Err(ApiError::new(
                ErrorCode::InvalidToken,
                "access token is invalid",
            ));
        }
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                metrics::counter!(m::EDGE_AUTH_FAILURES).increment(1);
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::new(ErrorCode::TokenExpired, "access token expired; refresh it")
                    }
                    _ => ApiError::new(ErrorCode::InvalidToken, "access token is invalid"),
                }
            })
    }
}

/// The authenticated caller of a REST route.
pub struct AuthUser(pub Claims);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = EdgeError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .ok_or_else(|| EdgeError::new(ErrorCode::NotAuthenticated, "missing bearer token"))?;
        Ok(Self(state.verifier.verify(token)?))
    }
}

pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}
