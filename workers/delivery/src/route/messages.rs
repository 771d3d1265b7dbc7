//! Message events (created, updated, deleted) → `message:new` / `message:updated` /
//! `message:deleted` to every member; either copy (live or EVENTS), whichever comes first.

use std::time::Duration;

use bytes::Bytes;
use parley_contracts::frames::ServerFrame;
use parley_kit::consume::Outcome;
use parley_kit::metrics_names as m;
use uuid::Uuid;

use super::{Router, Via};
use chrono::Utc;
use parley_contracts::events::{MessageEvent, MessageEventKind};
use parley_contracts::subjects;

impl Router {
    /// Route a message event unless its other copy was routed already. Its key is remembered
    /// only once it is routed, so a copy that fails here is still routed by the other. A copy
    /// whose key header names an event already routed was skipped undecoded; this checks again
    /// by the key the event names, for a copy without the header and for the other copy routed
    /// meanwhile.
    pub(super) async fn message_event(&self, evt: &MessageEvent, via: Via) -> Outcome {
        let key = subjects::event_msg_id(evt.command_id, evt.kind.as_str());
        if self.second_copy(&key, via) {
            return Outcome::Ack;
        }
        let conv = evt.message.conversation_id;
        let members = match self.members.members(conv).await {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(%error, conversation = %conv, "members unavailable; retrying");
                return Outcome::Retry(Duration::from_millis(500));
            }
        };
        let frame = match evt.kind {
            MessageEventKind::Created => ServerFrame::MessageNew {
                message: evt.message.clone(),
            },
            MessageEventKind::Updated => ServerFrame::MessageUpdated {
                seq: evt.seq,
                message: evt.message.clone(),
            },
            MessageEventKind::Deleted => ServerFrame::MessageDeleted {
                seq: evt.seq,
                conversation_id: conv,
                message_id: evt.message.id,
            },
        };
        let bytes = Bytes::from(frame.to_json());
        let ids: Vec<Uuid> = members.iter().map(|(u, _)| *u).collect();
        if !self.fan_out(&ids, bytes, Some(&key)).await {
            return Outcome::Retry(Duration::from_millis(200));
        }
        self.recent.insert(key);
        metrics::counter!(m::MESSAGES_DELIVERED, "kind" => evt.kind.as_str())
            .increment(ids.len() as u64);
        let latency = (Utc::now() - evt.at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
        metrics::histogram!(m::DELIVERY_LATENCY, "kind" => evt.kind.as_str(), "via" => via.as_str())
            .record(latency);
        Outcome::Ack
    }
}
