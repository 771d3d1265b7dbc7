//! Credentials: Argon2id password hashes, Ed25519-signed access tokens (edges verify them with
//! the public key alone) and opaque refresh tokens stored as SHA-256 hashes.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parley_contracts::{ErrorCode, error::ApiError};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub struct Keys {
    encoding: EncodingKey,
}

impl Keys {
    pub fn from_private_pem_file(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let pem = std::fs::read(path)
            .with_context(|| format!("read JWT private key {}", path.display()))?;
        let encoding =
            EncodingKey::from_ed_pem(&pem).context("parse Ed25519 private key (PKCS#8 PEM)")?;
        Ok(Self { encoding })
    }
}

/// Access token claims; the edge decodes the same shape.
#[derive(Serialize)]
struct Claims<'a> {
    sub: Uuid,
    name: &'a str,
    iat: u64,
    exp: u64,
    iss: &'static str,
}

pub const ISSUER: &str = "parley";

pub fn access_token(
    keys: &Keys,
    user: Uuid,
    username: &str,
    ttl_seconds: u64,
) -> Result<String, ApiError> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = Claims {
        sub: user,
        name: username,
        iat: now,
        exp: now + ttl_seconds,
        iss: ISSUER,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &keys.encoding).map_err(|e| {
        tracing::error!(error = %e, "token signing failed");
        ApiError::new(ErrorCode::Internal, "cannot issue a token")
    })
}

/// A new opaque refresh token and the hash under which it is stored.
pub fn refresh_token() -> (String, Vec<u8>) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let hash = hash_refresh(&token);
    (token, hash)
}

pub fn hash_refresh(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Argon2 runs at once (hashes and verifications together): one per core. Each takes 19 MiB;
/// unbounded, a burst of registrations and logins ran one per blocking thread (up to 512), and
/// the allocator kept those buffers: 1.4 GiB resident after a few thousand. Requests beyond
/// wait here, bounded in number by the service's concurrency.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

/// Argon2id with the crate's defaults (19 MiB, t=2, p=1: the OWASP minimum), off the runtime.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "password hashing is shutting down"))?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ApiError::new(ErrorCode::Internal, "cannot hash the password")
    })
}

/// Verify, off the runtime. With no stored hash (unknown user) a dummy hash is verified so
/// that timing does not reveal which usernames exist.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = match stored {
        Some(s) => s,
        None => DUMMY
            .get_or_init(|| {
                let salt = SaltString::encode_b64(b"parley-dummy-salt").ok();
                salt.and_then(|s| {
                    Argon2::default()
                        .hash_password(b"dummy password", &s)
                        .ok()
                        .map(|h| h.to_string())
                })
                .unwrap_or_default()
            })
            .clone(),
    };
    let Ok(_slot) = hashing_slots().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}
