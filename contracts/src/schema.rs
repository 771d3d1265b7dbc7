//! Machine-readable contracts generated from the types in this crate: OpenAPI 3.1 for REST,
//! AsyncAPI 3.0 (with JSON Schema 2020-12) for WebSocket frames and NATS subjects.
//! `docs/api/` holds the rendered files; a test keeps them in step with the code.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Value, json};

use crate::api::*;
use crate::error::ApiError;
use crate::events::{
    MemberEvent, MessageCommand, MessageEvent, PresenceCommand, PresenceEvent, ReceiptCommand,
    ReceiptEvent, TypingEvent, UserEvent,
};
use crate::frames::{ClientFrame, ServerFrame};

mod svc;

fn generator(path: &'static str) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = path.into();
    settings.into_generator()
}

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

struct Route {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: bool,
    body: Option<Value>,
    ok: (u16, Option<Value>),
    params: &'static [(&'static str, &'static str, &'static str)],
}

/// The OpenAPI 3.1 document of `/api/v1`.
pub fn openapi() -> Value {
    let mut g = generator("/components/schemas");
    let id = &[("id", "path", "uuid")][..];
    let r = |method, path, summary, auth, body, ok, params| Route {
        method,
        path,
        summary,
        auth,
        body,
        ok,
        params,
    };
    let routes = vec![
        r(
            "post",
            "/auth/register",
            "Create an account",
            false,
            Some(schema_of::<RegisterRequest>(&mut g)),
            (201, Some(schema_of::<AuthResponse>(&mut g))),
            &[][..],
        ),
        r(
            "post",
            "/auth/login",
            "Log in",
            false,
            Some(schema_of::<LoginRequest>(&mut g)),
            (200, Some(schema_of::<AuthResponse>(&mut g))),
            &[],
        ),
        r(
            "post",
            "/auth/refresh",
            "Rotate a refresh token for new tokens",
            false,
            Some(schema_of::<RefreshRequest>(&mut g)),
            (200, Some(schema_of::<AuthResponse>(&mut g))),
            &[],
        ),
        r(
            "post",
            "/auth/logout",
            "Revoke the login a refresh token belongs to",
            false,
            Some(schema_of::<RefreshRequest>(&mut g)),
            (204, None),
            &[],
        ),
        r(
            "get",
            "/users/me",
            "The caller's profile",
            true,
            None,
            (200, Some(schema_of::<User>(&mut g))),
            &[],
        ),
        r(
            "patch",
            "/users/me",
            "Update the caller's profile",
            true,
            Some(schema_of::<UpdateMeRequest>(&mut g)),
            (200, Some(schema_of::<User>(&mut g))),
            &[],
        ),
        r(
            "get",
            "/users/search",
            "Find people by username prefix or display name",
            true,
            None,
            (200, Some(schema_of::<UserList>(&mut g))),
            &[("q", "query", "string")],
        ),
        r(
            "get",
            "/users/{id}",
            "A user's public profile",
            true,
            None,
            (200, Some(schema_of::<User>(&mut g))),
            id,
        ),
        r(
            "get",
            "/conversations",
            "The caller's conversations, most recent activity first",
            true,
            None,
            (200, Some(schema_of::<ConversationList>(&mut g))),
            &[],
        ),
        r(
            "post",
            "/conversations",
            "Create a group, or open (create or return) a direct conversation",
            true,
            Some(schema_of::<CreateConversationRequest>(&mut g)),
            (201, Some(schema_of::<Conversation>(&mut g))),
            &[],
        ),
        r(
            "get",
            "/conversations/{id}",
            "One conversation (members only)",
            true,
            None,
            (200, Some(schema_of::<Conversation>(&mut g))),
            id,
        ),
        r(
            "patch",
            "/conversations/{id}",
            "Rename a group (admins)",
            true,
            Some(schema_of::<UpdateConversationRequest>(&mut g)),
            (200, Some(schema_of::<Conversation>(&mut g))),
            id,
        ),
        r(
            "post",
            "/conversations/{id}/members",
            "Add members to a group (admins)",
            true,
            Some(schema_of::<AddMembersRequest>(&mut g)),
            (200, Some(schema_of::<Conversation>(&mut g))),
            id,
        ),
        r(
            "delete",
            "/conversations/{id}/members/{userId}",
            "Remove a member (admins) or leave (yourself)",
            true,
            None,
            (200, Some(schema_of::<Conversation>(&mut g))),
            &[("id", "path", "uuid"), ("userId", "path", "uuid")],
        ),
        r(
            "get",
            "/conversations/{id}/messages",
            "History, newest first, keyset-paginated by seq",
            true,
            None,
            (200, Some(schema_of::<MessagePage>(&mut g))),
            &[
                ("id", "path", "uuid"),
                ("before", "query", "integer"),
                ("limit", "query", "integer"),
            ],
        ),
        r(
            "post",
            "/conversations/{id}/messages",
            "Send a message (idempotent by id)",
            true,
            Some(schema_of::<SendMessageRequest>(&mut g)),
            (202, Some(schema_of::<Accepted>(&mut g))),
            id,
        ),
        r(
            "put",
            "/conversations/{id}/read",
            "Move the caller's read watermark to seq (monotonic; coalesced)",
            true,
            Some(schema_of::<ReadRequest>(&mut g)),
            (204, None),
            id,
        ),
        r(
            "get",
            "/conversations/{id}/receipts",
            "Every member's delivered/read watermarks (read hidden by read-receipt settings)",
            true,
            None,
            (200, Some(schema_of::<ReceiptList>(&mut g))),
            id,
        ),
        r(
            "post",
            "/conversations/{id}/messages/{messageId}/report",
            "Report a message to the moderators",
            true,
            Some(schema_of::<ReportRequest>(&mut g)),
            (201, Some(schema_of::<ReportCreated>(&mut g))),
            &[("id", "path", "uuid"), ("messageId", "path", "uuid")],
        ),
        r(
            "post",
            "/users/{id}/block",
            "Block a user: no direct messages or presence between you",
            true,
            None,
            (204, None),
            id,
        ),
        r(
            "delete",
            "/users/{id}/block",
            "Unblock a user",
            true,
            None,
            (204, None),
            id,
        ),
        r(
            "get",
            "/users/me/blocks",
            "Users the caller blocked",
            true,
            None,
            (200, Some(schema_of::<UserList>(&mut g))),
            &[],
        ),
    ];
    let error = schema_of::<ApiError>(&mut g);
    let mut paths = serde_json::Map::new();
    for route in routes {
        let mut op = json!({
            "summary": route.summary,
            "responses": {
                "default": { "description": "Error with a stable code", "content": { "application/json": { "schema": error } } }
            }
        });
        let ok = match route.ok.1 {
            Some(s) => {
                json!({ "description": "Success", "content": { "application/json": { "schema": s } } })
            }
            None => json!({ "description": "Success" }),
        };
        op["responses"][route.ok.0.to_string()] = ok;
        if let Some(body) = route.body {
            op["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": body } } });
        }
        if route.auth {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if !route.params.is_empty() {
            op["parameters"] = Value::Array(
                route.params.iter().map(|(name, place, kind)| {
                    let schema = if *kind == "uuid" { json!({"type": "string", "format": "uuid"}) } else { json!({"type": kind}) };
                    json!({ "name": name, "in": place, "required": *place == "path" || *name == "q", "schema": schema })
                }).collect(),
            );
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Parley REST API", "version": "1", "description": "Errors are {code, message}; codes are stable." },
        "servers": [{ "url": "/api/v1" }],
        "paths": paths,
        "components": {
            "schemas": g.take_definitions(true),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)" } }
        }
    })
}

/// The AsyncAPI 3.0 document: the WebSocket protocol and the NATS subjects integrators use.
pub fn asyncapi() -> Value {
    let mut g = generator("/components/schemas");
    let client = schema_of::<ClientFrame>(&mut g);
    let server = schema_of::<ServerFrame>(&mut g);
    let command = schema_of::<MessageCommand>(&mut g);
    let event = schema_of::<MessageEvent>(&mut g);
    let member = schema_of::<MemberEvent>(&mut g);
    let typing = schema_of::<TypingEvent>(&mut g);
    let receipt_cmd = schema_of::<ReceiptCommand>(&mut g);
    let receipt = schema_of::<ReceiptEvent>(&mut g);
    let presence_cmd = schema_of::<PresenceCommand>(&mut g);
    let presence = schema_of::<PresenceEvent>(&mut g);
    let user = schema_of::<UserEvent>(&mut g);
    let (svc_channels, svc_operations) = svc::channels(&mut g);
    let mut doc = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parley real-time protocol",
            "version": "1",
            "description": "WebSocket frames at /ws (JSON text frames tagged by `type`) and the NATS subjects of the Parley fabric. Stream payloads carry schema version `v`."
        },
        "servers": {
            "edge": { "host": "localhost:8080", "pathname": "/ws", "protocol": "ws" },
            "nats": { "host": "localhost:4222", "protocol": "nats" }
        },
        "channels": {
            "ws": {
                "address": "/ws",
                "servers": [{ "$ref": "#/servers/edge" }],
                "messages": {
                    "clientFrame": { "payload": client, "summary": "Frames a client sends (auth first)" },
                    "serverFrame": { "payload": server, "summary": "Frames the server sends" }
                }
            },
            "commands": {
                "address": "chat.cmd.msg.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Stream COMMANDS. Accepted client commands awaiting sequencing; Nats-Msg-Id = command id.",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "messageCommand": { "payload": command } }
            },
            "messageEvents": {
                "address": "chat.evt.msg.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Stream EVENTS. Sequenced message events (message.created/updated/deleted); Nats-Msg-Id = commandId:kind. Replayable: integrators pull it through the durable consumer integrator (docs/security.md).",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "messageEvent": { "payload": event } }
            },
            "liveMessageEvents": {
                "address": "chat.live.msg.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Core NATS (not a stream), for delivery only (queue group delivery-live). Persist publishes each new message event here the moment its transaction commits, beside storing it on chat.evt.msg; delivery routes whichever copy comes first and skips the other. At most once; EVENTS is the record, so integrators should consume chat.evt.msg.",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "messageEvent": { "payload": event } }
            },
            "memberEvents": {
                "address": "chat.evt.member.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Stream EVENTS. Conversation created, renamed, members added or removed; carries the new state.",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "memberEvent": { "payload": member } }
            },
            "typing": {
                "address": "chat.typing.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Core publish, captured by the memory stream TYPING (MaxAge 5 s). At most one start per second per user and conversation; a stop when the typer stops, sends, or disconnects.",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "typingEvent": { "payload": typing } }
            },
            "receiptCommands": {
                "address": "chat.cmd.receipt.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Stream COMMANDS. A member's device reports delivered/read up to a seq (membership checked by the edge); the receipts worker coalesces them into monotonic watermarks.",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "receiptCommand": { "payload": receipt_cmd } }
            },
            "receiptEvents": {
                "address": "chat.evt.receipt.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Stream EVENTS. receipt.updated: a member's watermarks moved (never backwards). Unmasked: integrators see true watermarks; delivery hides readSeq from clients per read-receipt settings. Nats-Msg-Id = conversation:user:deliveredSeq:readSeq.",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "receiptEvent": { "payload": receipt } }
            },
            "liveReceiptEvents": {
                "address": "chat.live.receipt.{conversationId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Core NATS (not a stream), for delivery only (queue group delivery-live). The receipts worker publishes each watermark change here the moment it commits, beside storing it on chat.evt.receipt (same Nats-Msg-Id); delivery routes whichever copy comes first and skips the other. At most once; EVENTS is the record, so integrators should consume chat.evt.receipt.",
                "parameters": { "conversationId": { "description": "Conversation UUID" } },
                "messages": { "receiptEvent": { "payload": receipt } }
            },
            "presenceCommands": {
                "address": "chat.presence.{userId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Core publish from edges, captured by the memory stream PRESENCE (last one per user). Connect, heartbeat (refreshes a TTL, so a crashed edge's devices expire), disconnect, status set.",
                "parameters": { "userId": { "description": "User UUID" } },
                "messages": { "presenceCommand": { "payload": presence_cmd } }
            },
            "presenceEvents": {
                "address": "chat.evt.presence.{userId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Stream EVENTS. presence.changed: what others may see of the user (invisible shows as offline) changed. Delivery routes it to the user's contacts allowed by the privacy setting.",
                "parameters": { "userId": { "description": "User UUID" } },
                "messages": { "presenceEvent": { "payload": presence } }
            },
            "userEvents": {
                "address": "chat.evt.user.{userId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Stream EVENTS. user.updated: read-receipt or presence privacy settings or blocks of the user changed.",
                "parameters": { "userId": { "description": "User UUID" } },
                "messages": { "userEvent": { "payload": user } }
            },
            "userDelivery": {
                "address": "chat.user.{userId}",
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": "Core NATS (not a stream). Ready-to-send server frames for every connection of a user. Frames of message events carry the header Parley-Event = commandId:kind; an edge forwards one frame per key to a socket.",
                "parameters": { "userId": { "description": "User UUID" } },
                "messages": { "serverFrame": { "payload": { "$ref": "#/components/schemas/ServerFrame" } } }
            }
        },
        "operations": {
            "sendFrame": { "action": "send", "channel": { "$ref": "#/channels/ws" }, "messages": [{ "$ref": "#/channels/ws/messages/clientFrame" }] },
            "receiveFrame": { "action": "receive", "channel": { "$ref": "#/channels/ws" }, "messages": [{ "$ref": "#/channels/ws/messages/serverFrame" }] },
            "consumeMessageEvents": { "action": "receive", "channel": { "$ref": "#/channels/messageEvents" } },
            "consumeMemberEvents": { "action": "receive", "channel": { "$ref": "#/channels/memberEvents" } },
            "consumeReceiptEvents": { "action": "receive", "channel": { "$ref": "#/channels/receiptEvents" } },
            "consumePresenceEvents": { "action": "receive", "channel": { "$ref": "#/channels/presenceEvents" } },
            "consumeUserEvents": { "action": "receive", "channel": { "$ref": "#/channels/userEvents" } }
        },
    });
    if let Some(channels) = doc["channels"].as_object_mut() {
        channels.extend(svc_channels);
    }
    if let Some(operations) = doc["operations"].as_object_mut() {
        operations.extend(svc_operations);
    }
    doc["components"] = json!({ "schemas": g.take_definitions(true) });
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rendered documents in docs/api/ must match the code; `UPDATE_SCHEMAS=1` rewrites them.
    #[test]
    fn rendered_documents_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api");
        for (name, doc) in [("openapi.json", openapi()), ("asyncapi.json", asyncapi())] {
            let rendered = serde_json::to_string_pretty(&doc).expect("render") + "\n";
            let path = dir.join(name);
            if std::env::var_os("UPDATE_SCHEMAS").is_some() {
                std::fs::create_dir_all(&dir).expect("mkdir");
                std::fs::write(&path, &rendered).expect("write");
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == rendered,
                "{name} is stale: run `UPDATE_SCHEMAS=1 cargo test -p parley-contracts`"
            );
        }
    }

    #[test]
    fn every_ref_resolves() {
        for doc in [openapi(), asyncapi()] {
            let text = doc.to_string();
            for part in text.split("\"$ref\":\"").skip(1) {
                let target = part.split('"').next().unwrap_or_default();
                let pointer = target.trim_start_matches('#');
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
            }
        }
    }
}
