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
