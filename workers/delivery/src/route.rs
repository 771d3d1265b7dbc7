//! Event → frame → every member's `chat.user.<id>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use chrono::Utc;
use parley_contracts::events::{
    MemberEvent, MessageEvent, MessageEventKind, PresenceEvent, ReceiptEvent,
};
use parley_contracts::frames::ServerFrame;
use parley_contracts::subjects;
use parley_contracts::svc::{PresenceAudience, UserIds};
use parley_kit::consume::{BatchHandler, Outcome};
use parley_kit::members::MemberCache;
use parley_kit::metrics_names as m;
use parley_kit::settings::{SettingsCache, visible_read_seq};
use uuid::Uuid;

use crate::recent::Recent;

/// Index of the newest presence event per subject (one subject per user) in a batch.
fn latest_presence(batch: &[jetstream::Message]) -> HashMap<&str, usize> {
    let mut latest = HashMap::new();
    for (i, msg) in batch.iter().enumerate() {
        if subjects::is_evt_presence(&msg.subject) {
            latest.insert(msg.subject.as_str(), i);
        }
    }
    latest
}

type Audiences =
    std::collections::HashMap<Uuid, Result<UserIds, parley_contracts::error::ApiError>>;

/// Which events a router handles; the others it acks unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// Messages, membership and receipts (consumer `delivery`).
    AllButPresence,
    /// Presence changes (consumer `delivery-presence`).
    Presence,
}

/// Which copy of a message event is being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Persist's core copy, sent as the event commits (`chat.live.msg.>`).
    Live,
    /// The EVENTS copy (the durable consumer).
    Stream,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Live => "live",
            Via::Stream => "stream",
        }
    }
}

pub struct Router {
    pub nats: async_nats::Client,
    pub members: MemberCache,
    pub settings: SettingsCache,
    pub events: Events,
    /// Message events already routed (shared by the live path and the message consumer).
    pub recent: Arc<Recent>,
}

impl BatchHandler for Router {
    async fn handle(&self, batch: &[jetstream::Message]) -> Vec<Outcome> {
        let outcomes = match self.events {
            Events::AllButPresence => self.route_events(batch).await,
            Events::Presence => self.route_presence(batch).await,
        };
        // Core publishes are buffered by the client; flush once per batch before acking.
        if let Err(error) = self.nats.flush().await {
            tracing::warn!(%error, "flush failed; batch will be redelivered");
            return vec![Outcome::Retry(Duration::from_millis(200)); batch.len()];
        }
        outcomes
    }
}

impl Router {
    /// Messages, membership and receipts; presence changes (their own consumer's) and
    /// `chat.evt.user.*` are acked unread.
    async fn route_events(&self, batch: &[jetstream::Message]) -> Vec<Outcome> {
        let routed: Vec<&str> = batch
            .iter()
            .map(|m| m.subject.as_str())
            .filter(|s| subjects::is_evt_msg(s) || subjects::is_evt_receipt(s))
            .collect();
        self.prefetch(&routed, subjects::is_evt_receipt).await;
        let mut outcomes = Vec::with_capacity(batch.len());
        for msg in batch {
            let outcome = if subjects::is_evt_msg(&msg.subject) {
                self.message_event(&msg.payload, msg.headers.as_ref(), Via::Stream)
                    .await
            } else if subjects::is_evt_member(&msg.subject) {
                self.member_event(&msg.payload).await
            } else if subjects::is_evt_receipt(&msg.subject) {
                self.receipt_event(&msg.payload, msg.headers.as_ref(), Via::Stream)
                    .await
            } else {
                Outcome::Ack
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Presence changes: only each user's newest in the batch is routed (a change carries the
    /// whole state), to the audiences asked for together.
    async fn route_presence(&self, batch: &[jetstream::Message]) -> Vec<Outcome> {
        let latest = latest_presence(batch);
        let mut audiences = self.audiences(batch, &latest).await;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (i, msg) in batch.iter().enumerate() {
            let outcome = match latest.get(msg.subject.as_str()) {
                Some(&newest) if newest == i => {
                    self.presence_event(&msg.payload, &mut audiences).await
                }
                Some(_) => {
                    metrics::counter!(m::PRESENCE_SUPERSEDED).increment(1);
                    Outcome::Ack
                }
                // Not a presence change (the consumer's filter lets none through).
                None => Outcome::Ack,
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Live copies of message and receipt events as they come: routed unless their EVENTS
    /// copy was already. Nothing is acked or retried; an event not routed here is routed from
    /// EVENTS.
    pub async fn route_live(&self, batch: &[async_nats::Message]) {
        let routed: Vec<&str> = batch.iter().map(|m| m.subject.as_str()).collect();
        self.prefetch(&routed, subjects::is_live_receipt).await;
        for msg in batch {
            if subjects::is_live_receipt(&msg.subject) {
                let _ = self
                    .receipt_event(&msg.payload, msg.headers.as_ref(), Via::Live)
                    .await;
            } else {
                let _ = self
                    .message_event(&msg.payload, msg.headers.as_ref(), Via::Live)
                    .await;
            }
        }
    }

    /// The lookups a batch of events needs, made together rather than one event at a time:
    /// the members of every conversation (`routed`: subjects ending in its id), and the
    /// read-receipt settings of the members of those whose events are receipts.
    async fn prefetch(&self, routed: &[&str], is_receipt: fn(&str) -> bool) {
        self.members
            .prefetch(routed.iter().filter_map(|s| subjects::trailing_id(s)))
            .await;
        self.prefetch_settings(routed.iter().copied().filter(|s| is_receipt(s)))
            .await;
    }

    /// Whether the other copy of the event `headers` names (`Nats-Msg-Id`, which both copies
    /// carry) was routed already: then this one is skipped undecoded.
    fn routed_before(&self, headers: Option<&async_nats::HeaderMap>, via: Via) -> bool {
        headers
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .is_some_and(|k| self.second_copy(k.as_str(), via))
    }

    /// Whether the event keyed `key` was routed already (counted as a second copy).
    fn second_copy(&self, key: &str, via: Via) -> bool {
        let seen = self.recent.contains(key);
        if seen {
            metrics::counter!(m::DELIVERY_SECOND_COPIES, "via" => via.as_str()).increment(1);
        }
        seen
    }

    /// Route a message event unless its other copy was routed already. Its key is remembered
    /// only once it is routed, so a copy that fails here is still routed by the other. Both
    /// copies carry the key as `Nats-Msg-Id`, so a second copy is skipped undecoded.
    async fn message_event(
        &self,
        payload: &[u8],
        headers: Option<&async_nats::HeaderMap>,
        via: Via,
    ) -> Outcome {
        if self.routed_before(headers, via) {
            return Outcome::Ack;
        }
        let has_key = headers
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .is_some();
        let evt: MessageEvent = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(error) => {
                tracing::error!(%error, via = via.as_str(), "undecodable message event skipped");
                return Outcome::Reject;
            }
        };
        // A copy without the header is checked by the key the event names.
        let key = subjects::event_msg_id(evt.command_id, evt.kind.as_str());
        if !has_key && self.second_copy(&key, via) {
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
                message: evt.message,
            },
            MessageEventKind::Updated => ServerFrame::MessageUpdated {
                seq: evt.seq,
                message: evt.message,
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

    async fn member_event(&self, payload: &[u8]) -> Outcome {
        let evt: MemberEvent = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(error) => {
                tracing::error!(%error, "undecodable member event skipped");
                return Outcome::Reject;
            }
        };
        let conv = evt.conversation.id;
        self.members.put_event(&evt);
        // Removed users get the new state too (they see themselves gone), then `conversation:removed`.
        let ids: Vec<Uuid> = evt
            .conversation
            .members
            .iter()
            .map(|m| m.user_id)
            .chain(evt.removed.iter().copied())
            .collect();
        let updated = Bytes::from(
            ServerFrame::ConversationUpdated {
                conversation: evt.conversation,
            }
            .to_json(),
        );
        let removed = Bytes::from(
            ServerFrame::ConversationRemoved {
                conversation_id: conv,
            }
            .to_json(),
        );
        let ok = self.fan_out(&ids, updated, None).await
            && self.fan_out(&evt.removed, removed, None).await;
        if ok {
            Outcome::Ack
        } else {
            Outcome::Retry(Duration::from_millis(200))
        }
    }

    /// A member's watermarks → `message:status` to every member, the read watermark masked
    /// for anyone on either side of a read-receipts-off setting. Either copy (live or EVENTS),
    /// whichever comes first, as for message events; the other is skipped.
    async fn receipt_event(
        &self,
        payload: &[u8],
        headers: Option<&async_nats::HeaderMap>,
        via: Via,
    ) -> Outcome {
        if self.routed_before(headers, via) {
            return Outcome::Ack;
        }
        let evt: ReceiptEvent = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(error) => {
                tracing::error!(%error, via = via.as_str(), "undecodable receipt event skipped");
                return Outcome::Reject;
            }
        };
        let key = subjects::receipt_event_msg_id(
            evt.conversation_id,
            evt.user_id,
            evt.delivered_seq,
            evt.read_seq,
        );
        let members = match self.members.members(evt.conversation_id).await {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(%error, "members unavailable; retrying");
                return Outcome::Retry(Duration::from_millis(500));
            }
        };
        let ids: Vec<Uuid> = members.iter().map(|(u, _)| *u).collect();
        let settings = match self.settings.read_receipts(&ids).await {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "settings unavailable; retrying");
                return Outcome::Retry(Duration::from_millis(500));
            }
        };
        let frame = |read_seq| {
            Bytes::from(
                ServerFrame::MessageStatus {
                    conversation_id: evt.conversation_id,
                    user_id: evt.user_id,
                    delivered_seq: evt.delivered_seq,
                    read_seq,
                }
                .to_json(),
            )
        };
        let (full, masked) = (frame(evt.read_seq), frame(0));
        for viewer in &ids {
            let shown = visible_read_seq(&settings, *viewer, evt.user_id, evt.read_seq);
            let bytes = if shown == evt.read_seq {
                full.clone()
            } else {
                masked.clone()
            };
            if !self.fan_out(&[*viewer], bytes, Some(&key)).await {
                return Outcome::Retry(Duration::from_millis(200));
            }
        }
        self.recent.insert(key);
        metrics::counter!(m::MESSAGES_DELIVERED, "kind" => "receipt.updated")
            .increment(ids.len() as u64);
        Outcome::Ack
    }

    /// The read-receipt settings of every member of the conversations whose receipts a batch
    /// routes (`receipt_subjects`), asked for together (their members are cached by now).
    async fn prefetch_settings<'a>(&self, receipt_subjects: impl Iterator<Item = &'a str>) {
        let mut convs: Vec<Uuid> = receipt_subjects.filter_map(subjects::trailing_id).collect();
        if convs.is_empty() {
            return;
        }
        convs.sort();
        convs.dedup();
        let mut users = Vec::new();
        for conv in convs {
            if let Ok(members) = self.members.members(conv).await {
                users.extend(members.iter().map(|(u, _)| *u));
            }
        }
        users.sort();
        users.dedup();
        self.settings.prefetch(&users).await;
    }

    /// The audience of every user whose presence change this batch routes, asked for at once
    /// (up to 32 requests in flight). Not cached: a block or a privacy change must apply at once.
    async fn audiences(
        &self,
        batch: &[jetstream::Message],
        latest: &HashMap<&str, usize>,
    ) -> Audiences {
        use futures::StreamExt;
        let mut users: Vec<Uuid> = latest
            .values()
            .filter_map(|&i| serde_json::from_slice::<PresenceEvent>(&batch[i].payload).ok())
            .map(|e| e.user_id)
            .collect();
        users.sort();
        users.dedup();
        futures::stream::iter(users)
            .map(|user_id| async move {
                let audience = parley_kit::nats::request::<_, UserIds>(
                    &self.nats,
                    subjects::svc::PRESENCE_AUDIENCE,
                    &PresenceAudience { user_id },
                )
                .await;
                (user_id, audience)
            })
            .buffer_unordered(32)
            .collect()
            .await
    }

    /// A presence change → the user's audience (contacts allowed by privacy and blocks, as the
    /// directory computes it) and the user's own devices.
    async fn presence_event(&self, payload: &[u8], audiences: &mut Audiences) -> Outcome {
        let evt: PresenceEvent = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(error) => {
                tracing::error!(%error, "undecodable presence event skipped");
                return Outcome::Reject;
            }
        };
        // Asked for with the batch; a user whose event subject is not its id (none today)
        // is asked here.
        let asked = match audiences.remove(&evt.user_id) {
            Some(a) => a,
            None => {
                parley_kit::nats::request(
                    &self.nats,
                    subjects::svc::PRESENCE_AUDIENCE,
                    &PresenceAudience {
                        user_id: evt.user_id,
                    },
                )
                .await
            }
        };
        let audience: UserIds = match asked {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(%error, "presence audience unavailable; retrying");
                return Outcome::Retry(Duration::from_millis(500));
            }
        };
        let frame = Bytes::from(
            ServerFrame::Presence {
                user_id: evt.user_id,
                status: evt.status,
                last_seen: evt.last_seen,
            }
            .to_json(),
        );
        let mut ids = audience.user_ids;
        ids.push(evt.user_id);
        if !self.fan_out(&ids, frame, None).await {
            return Outcome::Retry(Duration::from_millis(200));
        }
        metrics::counter!(m::MESSAGES_DELIVERED, "kind" => "presence.changed")
            .increment(ids.len() as u64);
        Outcome::Ack
    }

    /// Publish `frame` to every device of `users`; a message event's frames carry its key so
    /// that edges forward each event to a socket once.
    async fn fan_out(&self, users: &[Uuid], frame: Bytes, event_key: Option<&str>) -> bool {
        let headers = event_key.map(|k| {
            let mut h = async_nats::HeaderMap::new();
            h.insert(subjects::EVENT_KEY_HEADER, k);
            h
        });
        for user in users {
            let sent = match &headers {
                Some(h) => {
                    self.nats
                        .publish_with_headers(subjects::user(*user), h.clone(), frame.clone())
                        .await
                }
                None => {
                    self.nats
                        .publish(subjects::user(*user), frame.clone())
                        .await
                }
            };
            if let Err(error) = sent {
                tracing::warn!(%error, "publish to user failed");
                return false;
            }
        }
        true
    }
}
