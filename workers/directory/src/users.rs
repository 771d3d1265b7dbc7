//! Accounts: register, login, token refresh/rotation, logout, profiles, search.

use chrono::{Duration, Utc};
use parley_contracts::api::{AuthResponse, PresencePrivacy, User, UserList};
use parley_contracts::events::UserEvent;
use parley_contracts::limits::{DISPLAY_NAME_MAX, SEARCH_QUERY_MAX, SEARCH_RESULTS};
use parley_contracts::svc::{self, Empty};
use parley_contracts::{ErrorCode, error::ApiError, validate};
use parley_contracts::{SCHEMA_VERSION, subjects};
use sqlx::Row;
use uuid::Uuid;

use crate::{Ctx, auth, db_err};

pub(crate) fn row_to_user(r: &sqlx::postgres::PgRow) -> User {
    User {
        id: r.get("id"),
        username: r.get("username"),
        display_name: r.get("display_name"),
        avatar_url: r.get("avatar_url"),
        read_receipts: None,
        presence_privacy: None,
        presence: None,
    }
}

/// The caller's own record carries their settings.
fn row_to_me(r: &sqlx::postgres::PgRow) -> User {
    User {
        read_receipts: Some(r.get("read_receipts")),
        presence_privacy: Some(PresencePrivacy::parse(
            &r.get::<String, _>("presence_privacy"),
        )),
        ..row_to_user(r)
    }
}

const ME_COLUMNS: &str = "id, username, display_name, avatar_url, read_receipts, presence_privacy";

#[tracing::instrument(skip_all, fields(username = %req.username))]
pub async fn register(ctx: &Ctx, req: svc::Register) -> Result<AuthResponse, ApiError> {
    validate::username(&req.username)?;
    validate::password(&req.password)?;
    let display = req
        .display_name
        .clone()
        .unwrap_or_else(|| req.username.clone());
    validate::label("displayName", &display, DISPLAY_NAME_MAX)?;
    crate::strength::check(&req.password, &[&req.username, &display])?;
    let hash = auth::hash_password(req.password).await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO users (id, username, username_lower, display_name, password_hash)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username_lower) DO NOTHING",
    )
    .bind(id)
    .bind(&req.username)
    .bind(req.username.to_lowercase())
    .bind(display.trim())
    .bind(&hash)
    .execute(&ctx.db)
    .await
    .map_err(db_err)?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::new(
            ErrorCode::UsernameTaken,
            "that username is taken",
        ));
    }
    let user = User {
        id,
        username: req.username,
        display_name: display.trim().to_string(),
        avatar_url: None,
        read_receipts: Some(true),
        presence_privacy: Some(PresencePrivacy::Contacts),
        presence: None,
    };
    issue(ctx, user, Uuid::now_v7()).await
}

#[tracing::instrument(skip_all, fields(username = %req.username))]
pub async fn login(ctx: &Ctx, req: svc::Login) -> Result<AuthResponse, ApiError> {
    let lower = req.username.to_lowercase();
    // No stored username has a control character (validate::username); PostgreSQL would refuse
    // a NUL with an error rather than find nothing.
    if lower.len() > 64 || req.password.len() > 1024 || lower.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "wrong username or password",
        ));
    }
    // Requests without the edge's view of the client (older edges) share one address.
    let client = req.client.as_deref().unwrap_or("unknown");
    if let Some(wait) = ctx.throttle.wait(&lower, client).await {
        tracing::warn!(client, ?wait, "sign-in throttled");
        let message = match wait {
            crate::throttle::Wait::Address(s) => {
                format!("too many failed sign-ins from this address; try again in {s} s")
            }
            crate::throttle::Wait::Account(s) => {
                format!("this account is being guessed at; try again in {s} s")
            }
        };
        return Err(ApiError::new(ErrorCode::RateLimited, message));
    }
    let row = sqlx::query("SELECT id, username, display_name, avatar_url, read_receipts, presence_privacy, password_hash FROM users WHERE username_lower = $1")
        .bind(&lower)
        .fetch_optional(&ctx.db)
        .await
        .map_err(db_err)?;
    let stored = row.as_ref().map(|r| r.get::<String, _>("password_hash"));
    let ok = auth::verify_password(req.password, stored).await;
    match (ok, row) {
        (true, Some(r)) => {
            ctx.throttle.clear(&lower, client).await;
            issue(ctx, row_to_me(&r), Uuid::now_v7()).await
        }
        _ => {
            ctx.throttle.record_failure(&lower, client).await;
            Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "wrong username or password",
            ))
        }
    }
}

/// Rotation: the presented token is revoked and a new one of the same family issued. A token
/// that was already rotated out means it leaked: the whole family is revoked.
pub async fn refresh(ctx: &Ctx, req: svc::Refresh) -> Result<AuthResponse, ApiError> {
    let hash = auth::hash_refresh(&req.refresh_token);
    let mut tx = ctx.db.begin().await.map_err(db_err)?;
    let row = sqlx::query(
        "SELECT t.family_id, t.expires_at, t.revoked_at, u.id, u.username, u.display_name, u.avatar_url,
                u.read_receipts, u.presence_privacy
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 FOR UPDATE OF t",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "refresh token is invalid or expired",
        )
    };
    let Some(row) = row else {
        return Err(invalid());
    };
    let family: Uuid = row.get("family_id");
    let revoked: Option<chrono::DateTime<Utc>> = row.get("revoked_at");
    let expires: chrono::DateTime<Utc> = row.get("expires_at");
    if revoked.is_some() {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        tracing::warn!(%family, "refresh token reuse detected; family revoked");
        return Err(invalid());
    }
    if expires < Utc::now() {
        return Err(invalid());
    }
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1")
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    issue(ctx, row_to_me(&row), family).await
}

pub async fn logout(ctx: &Ctx, req: svc::Logout) -> Result<Empty, ApiError> {
    let hash = auth::hash_refresh(&req.refresh_token);
    // Logging out ends the whole login (every rotation of this token).
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL",
    )
    .bind(&hash)
    .execute(&ctx.db)
    .await
    .map_err(db_err)?;
    Ok(Empty {})
}

async fn issue(ctx: &Ctx, user: User, family: Uuid) -> Result<AuthResponse, ApiError> {
    let ttl = ctx.settings.access_ttl_seconds;
    let access_token = auth::access_token(&ctx.keys, user.id, &user.username, ttl)?;
    let (refresh_token, hash) = auth::refresh_token();
    let expires = Utc::now() + Duration::seconds(ctx.settings.refresh_ttl_seconds as i64);
    sqlx::query("INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&hash)
        .bind(user.id)
        .bind(family)
        .bind(expires)
        .execute(&ctx.db)
        .await
        .map_err(db_err)?;
    Ok(AuthResponse {
        user,
        access_token,
        refresh_token,
        expires_in: ttl,
    })
}

pub async fn get(ctx: &Ctx, req: svc::UserGet) -> Result<User, ApiError> {
    let sql = format!("SELECT {ME_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(req.user_id)
        .fetch_optional(&ctx.db)
        .await
        .map_err(db_err)?;
    let me = req.actor == req.user_id;
    row.map(|r| if me { row_to_me(&r) } else { row_to_user(&r) })
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))
}

pub async fn update(ctx: &Ctx, req: svc::UserUpdate) -> Result<User, ApiError> {
    if let Some(name) = &req.patch.display_name {
        validate::label("displayName", name, DISPLAY_NAME_MAX)?;
    }
    if let Some(url) = &req.patch.avatar_url {
        validate::avatar_url(url)?;
    }
    let sql = format!(
        "UPDATE users SET
            display_name = COALESCE($2, display_name),
            avatar_url = CASE WHEN $3::text IS NULL THEN avatar_url WHEN $3 = '' THEN NULL ELSE $3 END,
            read_receipts = COALESCE($4, read_receipts),
            presence_privacy = COALESCE($5, presence_privacy)
         WHERE id = $1 RETURNING {ME_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(req.actor)
        .bind(req.patch.display_name.as_deref().map(str::trim))
        .bind(req.patch.avatar_url.as_deref())
        .bind(req.patch.read_receipts)
        .bind(req.patch.presence_privacy.map(PresencePrivacy::as_str))
        .fetch_optional(&ctx.db)
        .await
        .map_err(db_err)?;
    let user = row
        .map(|r| row_to_me(&r))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))?;
    if req.patch.read_receipts.is_some() || req.patch.presence_privacy.is_some() {
        announce_user(ctx, &user).await;
    }
    Ok(user)
}

/// Tell caches of per-user settings (delivery, edges) that this user's settings changed.
pub(crate) async fn announce_user(ctx: &Ctx, user: &User) {
    let event = UserEvent {
        v: SCHEMA_VERSION,
        user_id: user.id,
        read_receipts: user.read_receipts.unwrap_or(true),
        presence_privacy: user.presence_privacy.unwrap_or_default(),
        at: chrono::Utc::now(),
    };
    let Ok(payload) = serde_json::to_vec(&event) else {
        return;
    };
    let acked = match ctx
        .js
        .publish(subjects::evt_user(user.id), payload.into())
        .await
    {
        Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = acked {
        // Committed; caches converge when their entries expire.
        tracing::error!(%error, user = %user.id, "user event not published");
    }
}

/// Prefix match on the username, substring match on the display name; exact username first.
pub async fn search(ctx: &Ctx, req: svc::UserSearch) -> Result<UserList, ApiError> {
    let q = validate::text("q", &req.q, SEARCH_QUERY_MAX, false)?.to_lowercase();
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let rows = sqlx::query(
        "SELECT id, username, display_name, avatar_url FROM users
         WHERE id <> $3 AND (username_lower LIKE $1 || '%' OR lower(display_name) LIKE '%' || $1 || '%')
         ORDER BY (username_lower = $2) DESC, username_lower LIMIT $4",
    )
    .bind(&escaped)
    .bind(&q)
    .bind(req.actor)
    .bind(SEARCH_RESULTS as i64)
    .fetch_all(&ctx.db)
    .await
    .map_err(db_err)?;
    Ok(UserList {
        users: rows.iter().map(row_to_user).collect(),
    })
}
