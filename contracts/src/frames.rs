//! WebSocket frames: JSON text frames tagged by `type`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{Conversation, Message};
use crate::error::ErrorCode;

/// Frames a client sends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientFrame {
    /// Must be the first frame unless the token came with the upgrade request.
    #[serde(rename = "auth")]
    Auth { token: String },
    #[serde(rename = "message:send", rename_all = "camelCase")]
    MessageSend {
        id: Uuid,
        conversation_id: Uuid,
        body: String,
        #[serde(default)]
        reply_to: Option<Uuid>,
        #[serde(default)]
        mentions: Vec<Uuid>,
        #[serde(default)]
        forward_from: Option<ForwardFrom>,
    },
    #[serde(rename = "message:edit", rename_all = "camelCase")]
    MessageEdit {
        id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
        body: String,
    },
    #[serde(rename = "message:delete", rename_all = "camelCase")]
    MessageDelete {
        id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
    },
    #[serde(rename = "reaction:add", rename_all = "camelCase")]
    ReactionAdd {
        id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
        emoji: String,
    },
    #[serde(rename = "reaction:remove", rename_all = "camelCase")]
    ReactionRemove {
        id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
        emoji: String,
    },
    /// Watermarks: every message up to `seq` reached a device of the caller / was read.
    #[serde(rename = "message:delivered", rename_all = "camelCase")]
    MessageDelivered { conversation_id: Uuid, seq: u64 },
    #[serde(rename = "message:read", rename_all = "camelCase")]
    MessageRead { conversation_id: Uuid, seq: u64 },
    #[serde(rename = "presence:set")]
    PresenceSet {
        status: crate::api::PresenceSetStatus,
    },
    /// Throttled by the edge to one event per second per user and conversation.
    #[serde(rename = "typing:start", rename_all = "camelCase")]
    TypingStart { conversation_id: Uuid },
    #[serde(rename = "typing:stop", rename_all = "camelCase")]
    TypingStop { conversation_id: Uuid },
    /// Ask for everything after the given per-conversation cursors.
    #[serde(rename = "sync")]
    Sync {
        #[serde(default)]
        cursors: BTreeMap<Uuid, u64>,
    },
    #[serde(rename = "ping")]
    Ping {
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardFrom {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
}

impl ClientFrame {
    /// The idempotency/correlation id of a command frame, answered as `ref`.
    pub fn command_id(&self) -> Option<Uuid> {
        match self {
            Self::MessageSend { id, .. }
            | Self::MessageEdit { id, .. }
            | Self::MessageDelete { id, .. }
            | Self::ReactionAdd { id, .. }
            | Self::ReactionRemove { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// The lenient first look at a frame, so that even a frame that fails to decode is answered
/// with the `ref` it carried.
#[derive(Debug, Default, Deserialize)]
pub struct FrameHead {
    #[serde(rename = "type")]
    pub kind: Option<serde_json::Value>,
    pub id: Option<serde_json::Value>,
    #[serde(rename = "ref")]
    pub reference: Option<serde_json::Value>,
}

impl FrameHead {
    pub fn reference(&self) -> Option<String> {
        [&self.id, &self.reference]
            .into_iter()
            .flatten()
            .find_map(|v| v.as_str().map(|s| s.chars().take(64).collect()))
    }
}

pub const CLIENT_FRAME_TYPES: &[&str] = &[
    "auth",
    "message:send",
    "message:edit",
    "message:delete",
    "reaction:add",
    "reaction:remove",
    "message:delivered",
    "message:read",
    "presence:set",
    "typing:start",
    "typing:stop",
    "sync",
    "ping",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypingState {
    Start,
    Stop,
}

/// Frames the server sends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ServerFrame {
    #[serde(rename = "ready", rename_all = "camelCase")]
    Ready { user_id: Uuid },
    /// The command with id `ref` is durably queued for sequencing.
    #[serde(rename = "ack")]
    Ack {
        #[serde(rename = "ref")]
        reference: Uuid,
        status: crate::api::AckStatus,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        code: ErrorCode,
        message: String,
    },
    #[serde(rename = "message:new")]
    MessageNew { message: Message },
    #[serde(rename = "message:updated")]
    MessageUpdated { seq: u64, message: Message },
    #[serde(rename = "message:deleted", rename_all = "camelCase")]
    MessageDeleted {
        seq: u64,
        conversation_id: Uuid,
        message_id: Uuid,
    },
    /// One batch of a `sync` answer, in seq order.
    #[serde(rename = "messages:offline", rename_all = "camelCase")]
    MessagesOffline {
        conversation_id: Uuid,
        /// Messages created in the covered range, current state, ascending seq.
        messages: Vec<Message>,
        /// Older messages changed (edited, deleted, reacted to) within the covered range.
        updates: Vec<Message>,
        /// Highest seq this batch covers: the client's new cursor.
        last_seq: u64,
        has_more: bool,
    },
    /// Someone is typing; receivers expire a `start` after 3 s without a refresh.
    #[serde(rename = "typing", rename_all = "camelCase")]
    Typing {
        conversation_id: Uuid,
        user_id: Uuid,
        state: TypingState,
    },
    /// A member's watermarks (`readSeq` is 0 when read receipts are hidden).
    #[serde(rename = "message:status", rename_all = "camelCase")]
    MessageStatus {
        conversation_id: Uuid,
        user_id: Uuid,
        delivered_seq: u64,
        read_seq: u64,
    },
    #[serde(rename = "presence", rename_all = "camelCase")]
    Presence {
        user_id: Uuid,
        status: crate::api::PresenceStatus,
        last_seen: Option<chrono::DateTime<chrono::Utc>>,
    },
    #[serde(rename = "sync:done")]
    SyncDone,
    #[serde(rename = "conversation:updated")]
    ConversationUpdated { conversation: Conversation },
    #[serde(rename = "conversation:removed", rename_all = "camelCase")]
    ConversationRemoved { conversation_id: Uuid },
    #[serde(rename = "pong")]
    Pong {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The server is draining: reconnect (to any edge) after `afterMs`.
    #[serde(rename = "reconnect", rename_all = "camelCase")]
    Reconnect { after_ms: u64 },
}

impl ServerFrame {
    pub fn error(reference: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            reference,
            code,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: no maps with non-string keys, no custom impls.
        serde_json::to_string(self).unwrap_or_else(|_| {
            String::from("{\"type\":\"error\",\"code\":\"internal\",\"message\":\"encode\"}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_frame_uses_the_documented_names() {
        let id = Uuid::now_v7();
        let conv = Uuid::now_v7();
        let raw = format!(
            r#"{{"type":"message:send","id":"{id}","conversationId":"{conv}","body":"hi"}}"#
        );
        let frame: ClientFrame = serde_json::from_str(&raw).expect("decodes");
        assert!(matches!(frame, ClientFrame::MessageSend { body, .. } if body == "hi"));
    }

    #[test]
    fn ack_and_error_frames_have_stable_shapes() {
        let id = Uuid::nil();
        let ack = ServerFrame::Ack {
            reference: id,
            status: crate::api::AckStatus::Accepted,
        };
        assert_eq!(
            ack.to_json(),
            r#"{"type":"ack","ref":"00000000-0000-0000-0000-000000000000","status":"accepted"}"#
        );
        let err = ServerFrame::error(Some("x".into()), ErrorCode::BodyTooLong, "too long");
        assert_eq!(
            err.to_json(),
            r#"{"type":"error","ref":"x","code":"body_too_long","message":"too long"}"#
        );
    }

    #[test]
    fn head_extracts_reference_even_from_bad_frames() {
        let head: FrameHead =
            serde_json::from_str(r#"{"type":"message:send","id":"abc","body":5}"#).expect("json");
        assert_eq!(head.reference().as_deref(), Some("abc"));
    }
}
