//! `sync`: for every conversation of the user, everything after the client's cursor, in
//! `messages:offline` batches of at most 50, in seq order; conversations the client did not
//! name are announced with `conversation:updated` and replayed from the start; then `sync:done`.
//!
//! A sync holds one of the edge's catch-up slots only while it asks the services, never while
//! it waits for its socket to take a batch: a client that stops reading must not keep other
//! users' syncs waiting. Batches are bounded by count and bytes (`svc.history.range`).

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::extract::ws::Message;
use parley_contracts::ErrorCode;
use parley_contracts::api::ConversationList;
use parley_contracts::error::ApiError;
use parley_contracts::frames::ServerFrame;
use parley_contracts::limits::{MAX_LAST_SEQS, MAX_SYNC_CURSORS, SYNC_BATCH};
use parley_contracts::subjects::svc;
use parley_contracts::svc::{ConvList, HistoryRange, LastSeqs, LastSeqsReply, RangeReply};
use parley_kit::nats::request;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use uuid::Uuid;

use crate::state::AppState;

pub fn spawn(
    s: AppState,
    user: Uuid,
    cursors: BTreeMap<Uuid, u64>,
    out: mpsc::Sender<Message>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = run(&s, user, cursors, &out).await {
            let _ = out
                .send(Message::Text(
                    ServerFrame::error(Some("sync".into()), e.code, e.message)
                        .to_json()
                        .into(),
                ))
                .await;
        }
    })
}

async fn send(out: &mpsc::Sender<Message>, frame: &ServerFrame) -> Result<(), ApiError> {
    out.send(Message::Text(frame.to_json().into()))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "connection closed"))
}

/// One of the edge's catch-up slots. Waiting for it costs only this task; the services see a
/// bounded number of catch-up requests at once.
async fn catchup_slot(s: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    s.catchup
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "the edge is shutting down"))
}

async fn run(
    s: &AppState,
    user: Uuid,
    cursors: BTreeMap<Uuid, u64>,
    out: &mpsc::Sender<Message>,
) -> Result<(), ApiError> {
    if cursors.len() > MAX_SYNC_CURSORS {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("at most {MAX_SYNC_CURSORS} cursors per sync"),
        ));
    }
    let slot = catchup_slot(s).await?;
    let list: ConversationList =
        request(&s.nats, svc::CONV_LIST, &ConvList { actor: user }).await?;
    let mine: HashSet<Uuid> = list.conversations.iter().map(|c| c.id).collect();
    let strangers: Vec<Uuid> = cursors
        .keys()
        .filter(|id| !mine.contains(id))
        .copied()
        .collect();
    // Known conversations need only their last seq; the client learns the rest (preview,
    // unread count) for the ones it has never seen, which are announced in full.
    let (known, unknown): (Vec<_>, Vec<_>) = list
        .conversations
        .into_iter()
        .partition(|c| cursors.contains_key(&c.id));
    let mut conversations = crate::rest::enrich(s, user, unknown).await?;
    let mut last: HashMap<Uuid, u64> = HashMap::with_capacity(known.len());
    for chunk in known.chunks(MAX_LAST_SEQS) {
        let reply: LastSeqsReply = request(
            &s.nats,
            svc::HISTORY_LAST_SEQS,
            &LastSeqs {
                conversation_ids: chunk.iter().map(|c| c.id).collect(),
            },
        )
        .await?;
        last.extend(reply.items.iter().map(|i| (i.conversation_id, i.last_seq)));
    }
    conversations.extend(known.into_iter().map(|mut c| {
        c.last_seq = last.get(&c.id).copied().unwrap_or(0);
        c
    }));
    drop(slot);
    for id in strangers {
        // Same answer whether the conversation does not exist or the user is not in it.
        send(
            out,
            &ServerFrame::error(
                Some(id.to_string()),
                ErrorCode::NotFound,
                "no such conversation",
            ),
        )
        .await?;
    }
    for conv in conversations {
        let known = cursors.get(&conv.id).copied();
        let mut after = known.unwrap_or(0);
        if known.is_none() {
            send(
                out,
                &ServerFrame::ConversationUpdated {
                    conversation: conv.clone(),
                },
            )
            .await?;
        }
        while after < conv.last_seq {
            let slot = catchup_slot(s).await?;
            let page: RangeReply = request(
                &s.nats,
                svc::HISTORY_RANGE,
                &HistoryRange {
                    conversation_id: conv.id,
                    after,
                    limit: SYNC_BATCH,
                },
            )
            .await?;
            drop(slot);
            if page.last_seq <= after {
                break;
            }
            after = page.last_seq;
            let has_more = page.has_more || after < conv.last_seq;
            send(
                out,
                &ServerFrame::MessagesOffline {
                    conversation_id: conv.id,
                    messages: page.messages,
                    updates: page.updates,
                    last_seq: page.last_seq,
                    has_more,
                },
            )
            .await?;
        }
    }
    send(out, &ServerFrame::SyncDone).await
}
