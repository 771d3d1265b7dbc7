//! Request/reply service payloads (`svc.*`). Callers are trusted Parley processes: `actor` is
//! the user the edge authenticated; each service enforces authorization for that actor.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{
    Conversation, CreateConversationRequest, LastMessage, Message, RefreshRequest, RegisterRequest,
    Role, UpdateMeRequest,
};
use crate::error::ApiError;

/// NATS header of a service request: the caller's deadline, in milliseconds since the Unix
/// epoch. A service that reaches a request after it skips it without a reply (the caller has
/// stopped waiting), so an overload turns into refusals instead of work nobody reads.
pub const DEADLINE_HEADER: &str = "Parley-Deadline";

/// Every service reply: `{"ok": T}` or `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Reply<T> {
    Ok(T),
    Error(ApiError),
}

impl<T> From<Result<T, ApiError>> for Reply<T> {
    fn from(r: Result<T, ApiError>) -> Self {
        match r {
            Ok(v) => Self::Ok(v),
            Err(e) => Self::Error(e),
        }
    }
}

impl<T> Reply<T> {
    pub fn into_result(self) -> Result<T, ApiError> {
        match self {
            Self::Ok(v) => Ok(v),
            Self::Error(e) => Err(e),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

pub type Register = RegisterRequest;
/// A sign-in, with the client address as the edge saw it: failed sign-ins are counted per
/// account and address, so a stranger's guesses do not lock the owner out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}
pub type Refresh = RefreshRequest;
pub type Logout = RefreshRequest;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserGet {
    pub actor: Uuid,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdate {
    pub actor: Uuid,
    pub patch: UpdateMeRequest,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSearch {
    pub actor: Uuid,
    pub q: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvCreate {
    pub actor: Uuid,
    pub request: CreateConversationRequest,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvCreated {
    pub conversation: Conversation,
    /// False when an existing direct conversation was returned.
    pub created: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvGet {
    pub actor: Uuid,
    pub conversation_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvList {
    pub actor: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvUpdate {
    pub actor: Uuid,
    pub conversation_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembersAdd {
    pub actor: Uuid,
    pub conversation_id: Uuid,
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembersRemove {
    pub actor: Uuid,
    pub conversation_id: Uuid,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Members {
    pub conversation_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembersReply {
    pub members: Vec<MemberRole>,
    /// A direct conversation in which one member blocked the other: nobody may send.
    #[serde(default)]
    pub blocked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberRole {
    pub user_id: Uuid,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub conversation_id: Uuid,
    pub before: Option<u64>,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRange {
    pub conversation_id: Uuid,
    /// Return events with seq > after.
    pub after: u64,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RangeReply {
    pub messages: Vec<Message>,
    pub updates: Vec<Message>,
    pub last_seq: u64,
    pub has_more: bool,
}

/// `svc.history.last_seqs`: each conversation's last stored seq (0 when it has none). What
/// receipts clamps watermarks to: persist commits a seq before anyone can see it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastSeqs {
    pub conversation_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastSeqsReply {
    pub items: Vec<ConversationSeq>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSeq {
    pub conversation_id: Uuid,
    pub last_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistorySummary {
    pub user_id: Uuid,
    pub items: Vec<SummaryItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryItem {
    pub conversation_id: Uuid,
    pub read_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryReply {
    pub items: Vec<ConversationSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub conversation_id: Uuid,
    pub last_seq: u64,
    pub last_message: Option<LastMessage>,
    pub unread_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryMessage {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
}

/// `svc.directory.block` / `svc.directory.unblock`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub actor: Uuid,
    pub user_id: Uuid,
}

/// `svc.directory.blocks`: the users the actor blocked.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Blocks {
    pub actor: Uuid,
}

/// `svc.directory.settings`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsGet {
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSettings {
    pub user_id: Uuid,
    pub read_receipts: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsReply {
    pub users: Vec<UserSettings>,
}

/// `svc.directory.presence.audience`: who is told about `user_id`'s presence.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceAudience {
    pub user_id: Uuid,
}

/// `svc.directory.presence.visible`: which of `user_ids` (all contacts when absent) the actor
/// may see the presence of.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceVisible {
    pub actor: Uuid,
    #[serde(default)]
    pub user_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIds {
    pub user_ids: Vec<Uuid>,
}

/// `svc.history.report`: the actor (a member, checked by the edge) reports a message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub actor: Uuid,
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub reason: String,
}

/// `svc.receipts.get`: every member's watermarks in a conversation (unmasked; the caller
/// applies read-receipt settings).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptsGet {
    pub conversation_id: Uuid,
}

/// `svc.receipts.mine`: the user's watermarks in the given conversations.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptsMine {
    pub user_id: Uuid,
    pub conversation_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Watermark {
    pub conversation_id: Uuid,
    pub delivered_seq: u64,
    pub read_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WatermarkList {
    pub items: Vec<Watermark>,
}

/// `svc.presence.get`: current visible presence of users (the caller filtered by privacy).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceGet {
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPresence {
    pub user_id: Uuid,
    pub status: crate::api::PresenceStatus,
    pub last_seen: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceReply {
    pub users: Vec<UserPresence>,
}
