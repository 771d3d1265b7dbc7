//! Blocks and the privacy rules built on them: who may send in a direct conversation, whose
//! read receipts are shown, and who sees whose presence.

use parley_contracts::api::{User, UserList};
use parley_contracts::events::MemberEventKind;
use parley_contracts::svc::{self, Empty, SettingsReply, UserIds, UserSettings};
use parley_contracts::{ErrorCode, error::ApiError};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{Ctx, db_err};

/// Ids asked about in one request at most.
const MAX_IDS: usize = parley_contracts::limits::MAX_USER_IDS_PER_REQUEST;

/// SQL: `$1` and `$2` are in a block either way.
const BLOCKED_PAIR: &str = "EXISTS (SELECT 1 FROM blocks WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1))";

/// Whether one of two users blocked the other.
pub async fn blocked_pair(conn: &mut PgConnection, a: Uuid, b: Uuid) -> Result<bool, ApiError> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {BLOCKED_PAIR}")))
        .bind(a)
        .bind(b)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)
}

/// Refuse when any of `users` blocked `actor`: a blocked user must not reach the person who
/// blocked them by putting them into a group. The error does not say who, so a request
/// naming several users does not reveal which one blocked the actor.
pub async fn refuse_if_blocked_by_any(
    conn: &mut PgConnection,
    actor: Uuid,
    users: &[Uuid],
) -> Result<(), ApiError> {
    let blocked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocked = $1 AND blocker = ANY($2))",
    )
    .bind(actor)
    .bind(users)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    if blocked {
        return Err(ApiError::new(
            ErrorCode::Blocked,
            "you cannot add one of these users to a conversation",
        ));
    }
    Ok(())
}

pub async fn block(ctx: &Ctx, req: svc::Block) -> Result<Empty, ApiError> {
    set_block(ctx, req, true).await
}

pub async fn unblock(ctx: &Ctx, req: svc::Block) -> Result<Empty, ApiError> {
    set_block(ctx, req, false).await
}

async fn set_block(ctx: &Ctx, req: svc::Block, on: bool) -> Result<Empty, ApiError> {
    if req.actor == req.user_id {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "you cannot block yourself",
        ));
    }
    let mut conn = ctx.db.acquire().await.map_err(db_err)?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
        .bind(req.user_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    if !exists {
        return Err(ApiError::new(ErrorCode::NotFound, "no such user"));
    }
    let changed = if on {
        sqlx::query("INSERT INTO blocks (blocker, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING")
    } else {
        sqlx::query("DELETE FROM blocks WHERE blocker = $1 AND blocked = $2")
    }
    .bind(req.actor)
    .bind(req.user_id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?
    .rows_affected()
        > 0;
    if changed {
        // Member caches (edges, delivery) learn the direct conversation's new `blocked` flag
        // from a membership event; per-user caches from a user event.
        if let Some(conv) =
            crate::conversations::direct_between(&mut conn, req.actor, req.user_id).await?
        {
            let c = crate::conversations::load_for_event(&mut conn, conv).await?;
            crate::conversations::announce(
                ctx,
                MemberEventKind::Updated,
                req.actor,
                &c,
                Vec::new(),
            )
            .await;
        }
        let me = crate::users::get(
            ctx,
            svc::UserGet {
                actor: req.actor,
                user_id: req.actor,
            },
        )
        .await?;
        crate::users::announce_user(ctx, &me).await;
    }
    Ok(Empty {})
}

pub async fn blocks(ctx: &Ctx, req: svc::Blocks) -> Result<UserList, ApiError> {
    let rows = sqlx::query(
        "SELECT u.id, u.username, u.display_name, u.avatar_url FROM blocks b JOIN users u ON u.id = b.blocked
         WHERE b.blocker = $1 ORDER BY b.created_at",
    )
    .bind(req.actor)
    .fetch_all(&ctx.db)
    .await
    .map_err(db_err)?;
    Ok(UserList {
        users: rows
            .iter()
            .map(crate::users::row_to_user)
            .collect::<Vec<User>>(),
    })
}

fn check_ids(ids: &[Uuid]) -> Result<(), ApiError> {
    if ids.len() > MAX_IDS {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("at most {MAX_IDS} user ids per request"),
        ));
    }
    Ok(())
}

/// Read-receipt settings; unknown users count as "on" (they have nothing to hide).
pub async fn settings(ctx: &Ctx, req: svc::SettingsGet) -> Result<SettingsReply, ApiError> {
    check_ids(&req.user_ids)?;
    let rows = sqlx::query("SELECT id, read_receipts FROM users WHERE id = ANY($1)")
        .bind(&req.user_ids)
        .fetch_all(&ctx.db)
        .await
        .map_err(db_err)?;
    Ok(SettingsReply {
        users: rows
            .iter()
            .map(|r| UserSettings {
                user_id: r.get("id"),
                read_receipts: r.get("read_receipts"),
            })
            .collect(),
    })
}

/// Who is pushed `user_id`'s presence: people sharing a conversation with them, unless their
/// setting is `nobody`, less anyone in a block with them.
pub async fn audience(ctx: &Ctx, req: svc::PresenceAudience) -> Result<UserIds, ApiError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT o.user_id FROM members m JOIN members o ON o.conversation_id = m.conversation_id
         WHERE m.user_id = $1 AND o.user_id <> $1
           AND (SELECT presence_privacy FROM users WHERE id = $1) <> 'nobody'
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker = $1 AND b.blocked = o.user_id)
                                                     OR (b.blocker = o.user_id AND b.blocked = $1))",
    )
    .bind(req.user_id)
    .fetch_all(&ctx.db)
    .await
    .map_err(db_err)?;
    Ok(UserIds { user_ids: ids })
}

/// Of `user_ids` (or of all the actor's contacts), those whose presence the actor may see:
/// themselves; `everyone` users; `contacts` users sharing a conversation with the actor; never
/// across a block; never a `nobody` user.
pub async fn visible(ctx: &Ctx, req: svc::PresenceVisible) -> Result<UserIds, ApiError> {
    let candidates: Vec<Uuid> = match req.user_ids {
        Some(ids) => {
            check_ids(&ids)?;
            ids
        }
        None => sqlx::query_scalar(
            "SELECT DISTINCT o.user_id FROM members m JOIN members o ON o.conversation_id = m.conversation_id
             WHERE m.user_id = $1 AND o.user_id <> $1",
        )
        .bind(req.actor)
        .fetch_all(&ctx.db)
        .await
        .map_err(db_err)?,
    };
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT u.id FROM users u WHERE u.id = ANY($2) AND (
            u.id = $1 OR (
                u.presence_privacy <> 'nobody'
                AND NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker = $1 AND b.blocked = u.id)
                                                          OR (b.blocker = u.id AND b.blocked = $1))
                AND (u.presence_privacy = 'everyone' OR EXISTS (
                    SELECT 1 FROM members m JOIN members o ON o.conversation_id = m.conversation_id
                    WHERE m.user_id = $1 AND o.user_id = u.id))))",
    )
    .bind(req.actor)
    .bind(&candidates)
    .fetch_all(&ctx.db)
    .await
    .map_err(db_err)?;
    Ok(UserIds { user_ids: ids })
}
