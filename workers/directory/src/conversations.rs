//! Conversations and membership. Every change commits, then is announced on
//! `chat.evt.member.<conversation>` so that caches (edges, delivery) and clients follow.

use chrono::{DateTime, Utc};
use parley_contracts::api::{Conversation, ConversationList, ConversationType, Member, Role};
use parley_contracts::events::{MemberEvent, MemberEventKind};
use parley_contracts::limits::GROUP_NAME_MAX;
use parley_contracts::svc::{self, ConvCreated, MemberRole, MembersReply};
use parley_contracts::{ErrorCode, SCHEMA_VERSION, error::ApiError, subjects, validate};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{Ctx, db_err};

fn role_of(s: &str) -> Role {
    if s == "admin" {
        Role::Admin
    } else {
        Role::Member
    }
}

fn not_found() -> ApiError {
    // Non-members get the same answer as for a conversation that does not exist: nobody learns
    // about a conversation they are not in.
    ApiError::new(ErrorCode::NotFound, "no such conversation")
}

async fn load(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Conversation>, ApiError> {
    let rows =
        sqlx::query("SELECT id, kind, name, created_at FROM conversations WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    let members = sqlx::query(
        "SELECT m.conversation_id, m.user_id, m.role, u.username, u.display_name
         FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ANY($1) ORDER BY m.joined_at, m.user_id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut out: Vec<Conversation> = rows
        .iter()
        .map(|r| Conversation {
            id: r.get("id"),
            kind: if r.get::<String, _>("kind") == "direct" {
                ConversationType::Direct
            } else {
                ConversationType::Group
            },
            name: r.get("name"),
            created_at: r.get::<DateTime<Utc>, _>("created_at"),
            members: Vec::new(),
            last_seq: 0,
            last_message: None,
            unread_count: 0,
            blocked: false,
        })
        .collect();
    for m in &members {
        let conv: Uuid = m.get("conversation_id");
        if let Some(c) = out.iter_mut().find(|c| c.id == conv) {
            c.members.push(Member {
                user_id: m.get("user_id"),
                role: role_of(&m.get::<String, _>("role")),
                username: m.get("username"),
                display_name: m.get("display_name"),
            });
        }
    }
    // Direct conversations where one member blocked the other.
    let blocked: Vec<Uuid> = sqlx::query_scalar(
        "SELECT c.id FROM conversations c WHERE c.id = ANY($1) AND c.kind = 'direct' AND EXISTS (
            SELECT 1 FROM members a JOIN members b ON b.conversation_id = a.conversation_id AND b.user_id <> a.user_id
            JOIN blocks k ON k.blocker = a.user_id AND k.blocked = b.user_id
            WHERE a.conversation_id = c.id)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for c in &mut out {
        c.blocked = blocked.contains(&c.id);
    }
    Ok(out)
}

/// The direct conversation of two users, if they have one.
pub(crate) async fn direct_between(
    conn: &mut PgConnection,
    a: Uuid,
    b: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
        .bind(format!("{lo}:{hi}"))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)
}

pub(crate) async fn load_for_event(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Conversation, ApiError> {
    load_one(conn, id).await
}

async fn load_one(conn: &mut PgConnection, id: Uuid) -> Result<Conversation, ApiError> {
    load(conn, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)
}

async fn role(conn: &mut PgConnection, conv: Uuid, user: Uuid) -> Result<Option<Role>, ApiError> {
    let r = sqlx::query("SELECT role FROM members WHERE conversation_id = $1 AND user_id = $2")
        .bind(conv)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(r.map(|r| role_of(&r.get::<String, _>("role"))))
}

async fn existing_users(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), ApiError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = ANY($1)")
        .bind(ids)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    if n as usize != ids.len() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "one or more users do not exist",
        ));
    }
    Ok(())
}

pub(crate) async fn announce(
    ctx: &Ctx,
    kind: MemberEventKind,
    actor: Uuid,
    conversation: &Conversation,
    removed: Vec<Uuid>,
) {
    let event = MemberEvent {
        v: SCHEMA_VERSION,
        kind,
        id: Uuid::now_v7(),
        actor_id: actor,
        at: Utc::now(),
        conversation: conversation.clone(),
        removed,
    };
    let Ok(payload) = serde_json::to_vec(&event) else {
        return;
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
    let published = ctx
        .js
        .publish_with_headers(
            subjects::evt_member(conversation.id),
            headers,
            payload.into(),
        )
        .await;
    let acked = match published {
        Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = acked {
        // The change is committed; caches converge when their entries expire.
        tracing::error!(%error, conversation = %conversation.id, "membership event not published");
    }
}

fn dedupe(ids: &[Uuid], except: Uuid) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = ids.iter().copied().filter(|id| *id != except).collect();
    out.sort();
    out.dedup();
    out
}

#[tracing::instrument(skip_all, fields(actor = %req.actor))]
pub async fn create(ctx: &Ctx, req: svc::ConvCreate) -> Result<ConvCreated, ApiError> {
    let others = dedupe(&req.request.member_ids, req.actor);
    let mut tx = ctx.db.begin().await.map_err(db_err)?;
    let id = Uuid::now_v7();
    match req.request.kind {
        ConversationType::Direct => {
            let [other] = others.as_slice() else {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "a direct conversation has exactly one other member",
                ));
            };
            existing_users(&mut tx, &[*other]).await?;
            if crate::privacy::blocked_pair(&mut tx, req.actor, *other).await? {
                return Err(ApiError::new(
                    ErrorCode::Blocked,
                    "you cannot message this user",
                ));
            }
            let (a, b) = if req.actor < *other {
                (req.actor, *other)
            } else {
                (*other, req.actor)
            };
            let key = format!("{a}:{b}");
            let inserted = sqlx::query(
                "INSERT INTO conversations (id, kind, direct_key, created_by) VALUES ($1, 'direct', $2, $3)
                 ON CONFLICT (direct_key) DO NOTHING",
            )
            .bind(id)
            .bind(&key)
            .bind(req.actor)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if inserted.rows_affected() == 0 {
                let existing: Uuid =
                    sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                        .bind(&key)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                let conversation = load_one(&mut tx, existing).await?;
                return Ok(ConvCreated {
                    conversation,
                    created: false,
                });
            }
            sqlx::query("INSERT INTO members (conversation_id, user_id, role) VALUES ($1, $2, 'member'), ($1, $3, 'member')")
                .bind(id)
                .bind(req.actor)
                .bind(*other)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        ConversationType::Group => {
            if let Some(name) = &req.request.name {
                validate::label("name", name, GROUP_NAME_MAX)?;
            }
            if others.len() + 1 > ctx.settings.max_group_members {
                return Err(ApiError::new(
                    ErrorCode::GroupFull,
                    format!(
                        "a group has at most {} members",
                        ctx.settings.max_group_members
                    ),
                ));
            }
            existing_users(&mut tx, &others).await?;
            crate::privacy::refuse_if_blocked_by_any(&mut tx, req.actor, &others).await?;
            sqlx::query("INSERT INTO conversations (id, kind, name, created_by) VALUES ($1, 'group', $2, $3)")
                .bind(id)
                .bind(req.request.name.as_deref().map(str::trim))
                .bind(req.actor)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let users: Vec<Uuid> = std::iter::once(req.actor)
                .chain(others.iter().copied())
                .collect();
            let roles: Vec<&str> = users
                .iter()
                .map(|u| if *u == req.actor { "admin" } else { "member" })
                .collect();
            sqlx::query(
                "INSERT INTO members (conversation_id, user_id, role)
                 SELECT $1, u, r FROM unnest($2::uuid[], $3::text[]) AS t(u, r)",
            )
            .bind(id)
            .bind(&users)
            .bind(&roles)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
    }
    let conversation = load_one(&mut tx, id).await?;
    tx.commit().await.map_err(db_err)?;
    announce(
        ctx,
        MemberEventKind::Created,
        req.actor,
        &conversation,
        Vec::new(),
    )
    .await;
    Ok(ConvCreated {
        conversation,
        created: true,
    })
}

pub async fn get(ctx: &Ctx, req: svc::ConvGet) -> Result<Conversation, ApiError> {
    let mut conn = ctx.db.acquire().await.map_err(db_err)?;
    if role(&mut conn, req.conversation_id, req.actor)
        .await?
        .is_none()
    {
        return Err(not_found());
    }
    load_one(&mut conn, req.conversation_id).await
}

pub async fn list(ctx: &Ctx, req: svc::ConvList) -> Result<ConversationList, ApiError> {
    let mut conn = ctx.db.acquire().await.map_err(db_err)?;
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT conversation_id FROM members WHERE user_id = $1")
            .bind(req.actor)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    let conversations = load(&mut conn, &ids).await?;
    Ok(ConversationList { conversations })
}

async fn require_group_admin(
    conn: &mut PgConnection,
    conv: Uuid,
    actor: Uuid,
) -> Result<Conversation, ApiError> {
    let Some(r) = role(conn, conv, actor).await? else {
        return Err(not_found());
    };
    let c = load_one(conn, conv).await?;
    if c.kind != ConversationType::Group {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "direct conversations have fixed members",
        ));
    }
    if r != Role::Admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only group admins can do that",
        ));
    }
    Ok(c)
}

pub async fn update(ctx: &Ctx, req: svc::ConvUpdate) -> Result<Conversation, ApiError> {
    validate::label("name", &req.name, GROUP_NAME_MAX)?;
    let mut tx = ctx.db.begin().await.map_err(db_err)?;
    require_group_admin(&mut tx, req.conversation_id, req.actor).await?;
    sqlx::query("UPDATE conversations SET name = $2 WHERE id = $1")
        .bind(req.conversation_id)
        .bind(req.name.trim())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let c = load_one(&mut tx, req.conversation_id).await?;
    tx.commit().await.map_err(db_err)?;
    announce(ctx, MemberEventKind::Updated, req.actor, &c, Vec::new()).await;
    Ok(c)
}

pub async fn add_members(ctx: &Ctx, req: svc::MembersAdd) -> Result<Conversation, ApiError> {
    let mut tx = ctx.db.begin().await.map_err(db_err)?;
    // Serialise membership changes of one conversation so the size cap holds under concurrency.
    sqlx::query("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE")
        .bind(req.conversation_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let c = require_group_admin(&mut tx, req.conversation_id, req.actor).await?;
    let new: Vec<Uuid> = dedupe(&req.user_ids, req.actor)
        .into_iter()
        .filter(|u| !c.members.iter().any(|m| m.user_id == *u))
        .collect();
    if new.is_empty() {
        return Ok(c);
    }
    if c.members.len() + new.len() > ctx.settings.max_group_members {
        return Err(ApiError::new(
            ErrorCode::GroupFull,
            format!(
                "a group has at most {} members",
                ctx.settings.max_group_members
            ),
        ));
    }
    existing_users(&mut tx, &new).await?;
    crate::privacy::refuse_if_blocked_by_any(&mut tx, req.actor, &new).await?;
    sqlx::query(
        "INSERT INTO members (conversation_id, user_id, role) SELECT $1, u, 'member' FROM unnest($2::uuid[]) AS t(u)
         ON CONFLICT DO NOTHING",
    )
    .bind(req.conversation_id)
    .bind(&new)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let c = load_one(&mut tx, req.conversation_id).await?;
    tx.commit().await.map_err(db_err)?;
    announce(
        ctx,
        MemberEventKind::MembersAdded,
        req.actor,
        &c,
        Vec::new(),
    )
    .await;
    Ok(c)
}

/// Admins remove anyone; everyone may remove themselves (leave). When the last admin leaves,
/// the longest-standing member becomes admin so the group stays manageable.
pub async fn remove_member(ctx: &Ctx, req: svc::MembersRemove) -> Result<Conversation, ApiError> {
    let mut tx = ctx.db.begin().await.map_err(db_err)?;
    sqlx::query("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE")
        .bind(req.conversation_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let Some(actor_role) = role(&mut tx, req.conversation_id, req.actor).await? else {
        return Err(not_found());
    };
    let c = load_one(&mut tx, req.conversation_id).await?;
    if c.kind != ConversationType::Group {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "direct conversations have fixed members",
        ));
    }
    if req.user_id != req.actor && actor_role != Role::Admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only group admins can remove others",
        ));
    }
    if !c.members.iter().any(|m| m.user_id == req.user_id) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "that user is not a member",
        ));
    }
    sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2")
        .bind(req.conversation_id)
        .bind(req.user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "UPDATE members SET role = 'admin' WHERE conversation_id = $1
           AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND role = 'admin')
           AND user_id = (SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY joined_at, user_id LIMIT 1)",
    )
    .bind(req.conversation_id)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let c = load_one(&mut tx, req.conversation_id).await?;
    tx.commit().await.map_err(db_err)?;
    announce(
        ctx,
        MemberEventKind::MemberRemoved,
        req.actor,
        &c,
        vec![req.user_id],
    )
    .await;
    Ok(c)
}

pub async fn members(ctx: &Ctx, req: svc::Members) -> Result<MembersReply, ApiError> {
    let mut conn = ctx.db.acquire().await.map_err(db_err)?;
    let rows = sqlx::query("SELECT user_id, role FROM members WHERE conversation_id = $1")
        .bind(req.conversation_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM conversations WHERE id = $1")
        .bind(req.conversation_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    let blocked = match (kind.as_deref(), rows.as_slice()) {
        (Some("direct"), [a, b]) => {
            crate::privacy::blocked_pair(&mut conn, a.get("user_id"), b.get("user_id")).await?
        }
        _ => false,
    };
    let members = rows
        .iter()
        .map(|r| MemberRole {
            user_id: r.get("user_id"),
            role: role_of(&r.get::<String, _>("role")),
        })
        .collect();
    Ok(MembersReply { members, blocked })
}
