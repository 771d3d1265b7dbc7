//! Stream payloads: commands awaiting sequencing (COMMANDS) and canonical events (EVENTS).
//! Integrators consume `chat.evt.>`; every payload carries the schema version `v`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{Conversation, Message};
use crate::frames::ForwardFrom;

/// `chat.cmd.msg.<conversationId>`: a client command the edge accepted (authenticated,
/// validated, membership-checked). `Nats-Msg-Id` is `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageCommand {
    pub v: u16,
    /// Client-chosen UUIDv7; for `send` it is also the message id.
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub sender_id: Uuid,
    pub accepted_at: DateTime<Utc>,
    #[serde(flatten)]
    pub action: MessageAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum MessageAction {
    #[serde(rename_all = "camelCase")]
    Send {
        body: String,
        #[serde(default)]
        reply_to: Option<Uuid>,
        #[serde(default)]
        mentions: Vec<Uuid>,
        #[serde(default)]
        forward_from: Option<ForwardFrom>,
    },
    #[serde(rename_all = "camelCase")]
    Edit { message_id: Uuid, body: String },
    #[serde(rename_all = "camelCase")]
    Delete {
        message_id: Uuid,
        /// The sender is a group admin (checked by the edge against the directory).
        #[serde(default)]
        as_admin: bool,
    },
    #[serde(rename_all = "camelCase")]
    ReactionAdd { message_id: Uuid, emoji: String },
    #[serde(rename_all = "camelCase")]
    ReactionRemove { message_id: Uuid, emoji: String },
}

/// Event kinds on `chat.evt.msg.<conversationId>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MessageEventKind {
    #[serde(rename = "message.created")]
    Created,
    #[serde(rename = "message.updated")]
    Updated,
    #[serde(rename = "message.deleted")]
    Deleted,
}

impl MessageEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "message.created",
            Self::Updated => "message.updated",
            Self::Deleted => "message.deleted",
        }
    }
}

/// `chat.evt.msg.<conversationId>`: one sequenced change. `Nats-Msg-Id` is `commandId:kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEvent {
    pub v: u16,
    pub kind: MessageEventKind,
    /// The conversation sequence number this command was given.
    pub seq: u64,
    pub command_id: Uuid,
    /// Who issued the command (for a reaction, the reacting user).
    pub actor_id: Uuid,
    pub at: DateTime<Utc>,
    /// The message's state after the change.
    pub message: Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MemberEventKind {
    #[serde(rename = "conversation.created")]
    Created,
    #[serde(rename = "conversation.updated")]
    Updated,
    #[serde(rename = "members.added")]
    MembersAdded,
    #[serde(rename = "member.removed")]
    MemberRemoved,
}

/// `chat.evt.member.<conversationId>`: membership or metadata changed; carries the new state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberEvent {
    pub v: u16,
    pub kind: MemberEventKind,
    pub id: Uuid,
    pub actor_id: Uuid,
    pub at: DateTime<Utc>,
    pub conversation: Conversation,
    /// Users no longer members after this change (they are told, then forgotten).
    #[serde(default)]
    pub removed: Vec<Uuid>,
}

/// `chat.typing.<conversationId>` (core publish, captured by the memory stream TYPING).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypingEvent {
    pub v: u16,
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub state: crate::frames::TypingState,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    Delivered,
    Read,
}

/// `chat.cmd.receipt.<conversationId>`: a member's device reports a watermark. Published by the
/// edge after the membership check; coalesced and applied by the receipts worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptCommand {
    pub v: u16,
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub kind: ReceiptKind,
    pub seq: u64,
    pub at: DateTime<Utc>,
}

/// `chat.evt.receipt.<conversationId>` (`receipt.updated`): a member's watermarks moved.
/// `Nats-Msg-Id` is `<conversation>:<user>:<deliveredSeq>:<readSeq>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptEvent {
    pub v: u16,
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub delivered_seq: u64,
    pub read_seq: u64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceAction {
    /// A device connected.
    Connect,
    /// The device is still there (refreshes its TTL).
    Heartbeat,
    /// The device disconnected cleanly.
    Disconnect,
    /// The user chose a status (`status` is set).
    Set,
}

/// `chat.presence.<userId>`: from an edge, per device connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceCommand {
    pub v: u16,
    pub user_id: Uuid,
    /// One id per WebSocket connection, chosen by the edge.
    pub connection_id: Uuid,
    pub action: PresenceAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::api::PresenceSetStatus>,
    /// How long the connection counts as alive without another heartbeat, seconds.
    pub ttl_seconds: u64,
    pub at: DateTime<Utc>,
}

/// `chat.evt.presence.<userId>` (`presence.changed`): what others see of the user changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceEvent {
    pub v: u16,
    pub user_id: Uuid,
    pub status: crate::api::PresenceStatus,
    pub last_seen: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// `chat.evt.user.<userId>` (`user.updated`): settings or blocks of the user changed; caches of
/// per-user settings drop the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserEvent {
    pub v: u16,
    pub user_id: Uuid,
    pub read_receipts: bool,
    pub presence_privacy: crate::api::PresencePrivacy,
    pub at: DateTime<Utc>,
}
