use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_contracts::api::{
    AddMembersRequest, Conversation, ConversationList, CreateConversationRequest,
    UpdateConversationRequest,
};
use parley_contracts::endpoint;
use parley_contracts::error::ApiError;
use parley_contracts::limits::MAX_SUMMARY_ITEMS;
use parley_contracts::svc::{
    ConvCreate, ConvCreated, ConvGet, ConvList, ConvUpdate, ConversationSummary, HistorySummary,
    MembersAdd, MembersRemove, ReceiptsMine, SummaryItem, SummaryReply,
};
use parley_kit::service::request;
use uuid::Uuid;

use super::{Body, parse_id};
use crate::auth::AuthUser;
use crate::error::Result;
use crate::state::AppState;

/// Fill what the directory does not know (last seq, last message, unread count) from the
/// message store, and sort by last activity, newest first.
pub async fn enrich(
    s: &AppState,
    user: Uuid,
    mut convs: Vec<Conversation>,
) -> std::result::Result<Vec<Conversation>, ApiError> {
    if convs.is_empty() {
        return Ok(convs);
    }
    // Asked in chunks, so that every request and reply is bounded whatever the number of
    // conversations (`limits::MAX_SUMMARY_ITEMS`).
    let mut by_id = HashMap::with_capacity(convs.len());
    for chunk in convs.chunks(MAX_SUMMARY_ITEMS) {
        by_id.extend(summaries(s, user, chunk).await?);
    }
    for c in &mut convs {
        if let Some(sum) = by_id.remove(&c.id) {
            c.last_seq = sum.last_seq;
            c.last_message = sum.last_message;
            c.unread_count = sum.unread_count;
        }
    }
    convs.sort_by_key(|c| {
        std::cmp::Reverse(
            c.last_message
                .as_ref()
                .map(|m| m.created_at)
                .unwrap_or(c.created_at),
        )
    });
    Ok(convs)
}

/// Last seq, last message and unread count of each of `convs` (at most
/// [`MAX_SUMMARY_ITEMS`]).
async fn summaries(
    s: &AppState,
    user: Uuid,
    convs: &[Conversation],
) -> std::result::Result<HashMap<Uuid, ConversationSummary>, ApiError> {
    // Unread counts start after the caller's read watermark; without the receipts service
    // every message from others counts as unread rather than failing the list.
    let reads: HashMap<Uuid, u64> = match request::<endpoint::ReceiptsMine>(
        &s.nats,
        &ReceiptsMine {
            user_id: user,
            conversation_ids: convs.iter().map(|c| c.id).collect(),
        },
    )
    .await
    {
        Ok(w) => w
            .items
            .into_iter()
            .map(|w| (w.conversation_id, w.read_seq))
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "read watermarks unavailable");
            HashMap::new()
        }
    };
    let items = convs
        .iter()
        .map(|c| SummaryItem {
            conversation_id: c.id,
            read_seq: reads.get(&c.id).copied().unwrap_or(0),
        })
        .collect();
    let reply: SummaryReply = request::<endpoint::HistorySummary>(
        &s.nats,
        &HistorySummary {
            user_id: user,
            items,
        },
    )
    .await?;
    Ok(reply
        .items
        .into_iter()
        .map(|i| (i.conversation_id, i))
        .collect())
}

async fn enrich_one(s: &AppState, user: Uuid, c: Conversation) -> Result<Json<Conversation>> {
    let mut v = enrich(s, user, vec![c]).await?;
    Ok(Json(v.remove(0)))
}

pub async fn list(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
) -> Result<Json<ConversationList>> {
    let list: ConversationList =
        request::<endpoint::ConvList>(&s.nats, &ConvList { actor: c.sub }).await?;
    Ok(Json(ConversationList {
        conversations: enrich(&s, c.sub, list.conversations).await?,
    }))
}

pub async fn create(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Body(request_body): Body<CreateConversationRequest>,
) -> Result<(StatusCode, Json<Conversation>)> {
    let r: ConvCreated = request::<endpoint::ConvCreate>(
        &s.nats,
        &ConvCreate {
            actor: c.sub,
            request: request_body,
        },
    )
    .await?;
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, enrich_one(&s, c.sub, r.conversation).await?))
}

pub async fn get(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Conversation>> {
    let conversation_id = parse_id(&id)?;
    let conv: Conversation = request::<endpoint::ConvGet>(
        &s.nats,
        &ConvGet {
            actor: c.sub,
            conversation_id,
        },
    )
    .await?;
    enrich_one(&s, c.sub, conv).await
}

pub async fn update(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    Body(body): Body<UpdateConversationRequest>,
) -> Result<Json<Conversation>> {
    let conversation_id = parse_id(&id)?;
    let conv: Conversation = request::<endpoint::ConvUpdate>(
        &s.nats,
        &ConvUpdate {
            actor: c.sub,
            conversation_id,
            name: body.name,
        },
    )
    .await?;
    enrich_one(&s, c.sub, conv).await
}

pub async fn add_members(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    Body(body): Body<AddMembersRequest>,
) -> Result<Json<Conversation>> {
    let conversation_id = parse_id(&id)?;
    let conv: Conversation = request::<endpoint::MembersAdd>(
        &s.nats,
        &MembersAdd {
            actor: c.sub,
            conversation_id,
            user_ids: body.user_ids,
        },
    )
    .await?;
    s.members.forget(conversation_id);
    enrich_one(&s, c.sub, conv).await
}

pub async fn remove_member(
    State(s): State<AppState>,
    AuthUser(c): AuthUser,
    Path((id, user)): Path<(String, String)>,
) -> Result<Json<Conversation>> {
    let conversation_id = parse_id(&id)?;
    let user_id = parse_id(&user)?;
    let conv: Conversation = request::<endpoint::MembersRemove>(
        &s.nats,
        &MembersRemove {
            actor: c.sub,
            conversation_id,
            user_id,
        },
    )
    .await?;
    s.members.forget(conversation_id);
    Ok(Json(conv))
}
