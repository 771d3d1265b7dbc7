//! The `svc.*` request/reply endpoints in the AsyncAPI document, generated from the one table
//! in [`crate::endpoint`].

use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

use crate::endpoint;
use crate::error::ApiError;

/// Channels and operations of every endpoint: a channel per subject with its request and reply
/// messages (`{"ok": …}` or `{"error": ApiError}`), and a `send` operation whose reply is that
/// reply message (sent to the request's NATS inbox).
pub fn channels(g: &mut SchemaGenerator) -> (Map<String, Value>, Map<String, Value>) {
    let error = g.subschema_for::<ApiError>().to_value();
    let mut channels = Map::new();
    let mut operations = Map::new();
    for e in endpoint::all() {
        let id = e.subject.replace('.', "_");
        let request = (e.request)(g).to_value();
        let reply = (e.reply)(g).to_value();
        channels.insert(
            id.clone(),
            json!({
                "address": e.subject,
                "servers": [{ "$ref": "#/servers/nats" }],
                "description": format!("Request/reply, served by the {} service (queue group {}). Headers: Parley-Trace-Id, Parley-Deadline (Unix ms; a request reached after it is not answered).", e.service, e.service),
                "messages": {
                    "request": { "payload": request, "summary": e.summary },
                    "reply": {
                        "payload": {
                            "oneOf": [
                                { "type": "object", "required": ["ok"], "properties": { "ok": reply } },
                                { "type": "object", "required": ["error"], "properties": { "error": error } }
                            ]
                        }
                    }
                }
            }),
        );
        operations.insert(
            id.clone(),
            json!({
                "action": "send",
                "summary": e.summary,
                "channel": { "$ref": format!("#/channels/{id}") },
                "messages": [{ "$ref": format!("#/channels/{id}/messages/request") }],
                "reply": { "messages": [{ "$ref": format!("#/channels/{id}/messages/reply") }] }
            }),
        );
    }
    (channels, operations)
}
