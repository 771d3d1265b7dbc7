//! Receipts: publishing delivered/read watermarks for the receipts worker, and showing every
//! member's watermarks to a viewer under the owners' read-receipt settings.

use chrono::Utc;
use parley_contracts::api::{Receipt, ReceiptList};
use parley_contracts::endpoint;
use parley_contracts::error::ApiError;
use parley_contracts::events::{ReceiptCommand, ReceiptKind};
use parley_contracts::svc::ReceiptsGet;
use parley_contracts::{ErrorCode, SCHEMA_VERSION, subjects};
use parley_kit::service::request;
use parley_kit::settings::visible_read_seq;
use uuid::Uuid;

use super::require_member;
use crate::commands::Stored;
use crate::state::AppState;

/// Publish a delivered/read watermark for the receipts worker; await the returned future to
/// know it is stored in the stream.
pub async fn receipt(
    s: &AppState,
    user: Uuid,
    conversation: Uuid,
    kind: ReceiptKind,
    seq: u64,
) -> Result<Stored, ApiError> {
    if seq == 0 || seq > i64::MAX as u64 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "seq must be a positive conversation sequence number",
        ));
    }
    require_member(s, user, conversation).await?;
    let cmd = ReceiptCommand {
        v: SCHEMA_VERSION,
        conversation_id: conversation,
        user_id: user,
        kind,
        seq,
        at: Utc::now(),
    };
    let payload = serde_json::to_vec(&cmd)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "encode receipt"))?;
    // Through the group committer, like messages: under load receipts (one per delivered
    // message) join the groups that go out as one atomic batch, where a publish of their own
    // would cost a synced write each. No `Nats-Msg-Id`: a repeated watermark is harmless.
    let stored = s
        .committer
        .publish(parley_kit::batch::Outgoing {
            subject: subjects::cmd_receipt(conversation),
            headers: async_nats::HeaderMap::new(),
            payload: payload.into(),
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "receipt publish failed");
            ApiError::new(ErrorCode::Unavailable, "receipt not recorded; retry")
        })?;
    Ok(Box::pin(stored))
}

/// Every member's watermarks as `viewer` may see them (members without receipts at 0).
pub async fn receipts(
    s: &AppState,
    viewer: Uuid,
    conversation: Uuid,
) -> Result<ReceiptList, ApiError> {
    let members = s.members.members(conversation).await?;
    if !members.iter().any(|(u, _)| *u == viewer) {
        return Err(ApiError::new(ErrorCode::NotFound, "no such conversation"));
    }
    let stored: ReceiptList = request::<endpoint::ReceiptsGet>(
        &s.nats,
        &ReceiptsGet {
            conversation_id: conversation,
        },
    )
    .await?;
    let ids: Vec<Uuid> = members.iter().map(|(u, _)| *u).collect();
    let settings = s.read_settings.read_receipts(&ids).await?;
    let receipts = ids
        .iter()
        .map(|u| {
            let r = stored.receipts.iter().find(|r| r.user_id == *u);
            let (d, rd) = r.map(|r| (r.delivered_seq, r.read_seq)).unwrap_or((0, 0));
            Receipt {
                user_id: *u,
                delivered_seq: d,
                read_seq: visible_read_seq(&settings, viewer, *u, rd),
            }
        })
        .collect();
    Ok(ReceiptList { receipts })
}
