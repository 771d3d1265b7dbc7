//! Event → frame → every member's `chat.user.<id>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use parley_contracts::events::{
    MemberEvent, MessageEvent, MessageEventKind, PresenceEvent, ReceiptEvent,
};
use parley_contracts::frames::ServerFrame;
use parley_contracts::subjects;
use parley_contracts::svc::{PresenceAudience, UserIds};
use parley_kit::consume::{BatchHandler, DecodeError, Incoming, Item, Outcome, Outcomes, Started};
use parley_kit::members::MemberCache;
use parley_kit::metrics_names as m;
use parley_kit::settings::{SettingsCache, visible_read_seq};
use uuid::Uuid;

use crate::recent::Recent;

/// An event of EVENTS (or a live copy), decoded by family.
pub enum Event {
    Message(Box<MessageEvent>),
    Member(Box<MemberEvent>),
    Receipt(ReceiptEvent),
    Presence(PresenceEvent),
    /// Not routed by this router (another family; a second copy of an event already routed):
    /// acked unread.
    Skip,
}

/// Index of the newest presence change per subject (one subject per user) in a batch.
fn latest_presence<'b>(batch: &'b [Item<'_, Event>]) -> HashMap<&'b str, usize> {
    let mut latest = HashMap::new();
    for (i, item) in batch.iter().enumerate() {
        if matches!(item.command, Event::Presence(_)) {
            latest.insert(item.subject(), i);
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
    type Command = Event;

    /// By subject; a message or receipt event whose other copy was routed already is skipped
    /// undecoded (both copies carry its key as `Nats-Msg-Id`).
    fn decode(&self, msg: Incoming<'_>) -> Result<Event, DecodeError> {
        self.decode_via(msg, Via::Stream)
    }

    async fn start(&self, batch: &[Item<'_, Event>]) -> Started {
        let mut outcomes = match self.events {
            Events::AllButPresence => self.route_events(batch).await,
            Events::Presence => self.route_presence(batch).await,
        };
        // Core publishes are buffered by the client; flush once per batch before acking.
        if let Err(error) = self.nats.flush().await {
            tracing::warn!(%error, "flush failed; batch will be redelivered");
            for item in batch {
                outcomes.set(item, Outcome::Retry(Duration::from_millis(200)));
            }
        }
        Started::done(outcomes)
    }
}

impl Router {
    fn decode_via(&self, msg: Incoming<'_>, via: Via) -> Result<Event, DecodeError> {
        let subject = msg.subject;
        let presence = self.events == Events::Presence;
        let (message, receipt) = match via {
            Via::Live => (
                !subjects::is_live_receipt(subject),
                subjects::is_live_receipt(subject),
            ),
            Via::Stream => (
                subjects::is_evt_msg(subject),
                subjects::is_evt_receipt(subject),
            ),
        };
        if !presence && message {
            if self.routed_before(msg.headers, via) {
                return Ok(Event::Skip);
            }
            return Ok(Event::Message(msg.json()?));
        }
        if !presence && receipt {
            if self.routed_before(msg.headers, via) {
                return Ok(Event::Skip);
            }
            return Ok(Event::Receipt(msg.json()?));
        }
        if !presence && subjects::is_evt_member(subject) {
            return Ok(Event::Member(msg.json()?));
        }
        if presence && subjects::is_evt_presence(subject) {
            return Ok(Event::Presence(msg.json()?));
        }
        Ok(Event::Skip)
    }

    /// Messages, membership and receipts; presence changes (their own consumer's) and
    /// `chat.evt.user.*` are acked unread.
    async fn route_events(&self, batch: &[Item<'_, Event>]) -> Outcomes {
        let routed: Vec<&str> = batch
            .iter()
            .filter(|i| matches!(i.command, Event::Message(_) | Event::Receipt(_)))
            .map(|i| i.subject())
            .collect();
        self.prefetch(&routed, subjects::is_evt_receipt).await;
        let mut outcomes = Outcomes::of(batch);
        for item in batch {
            let outcome = self.route(&item.command, Via::Stream).await;
            outcomes.set(item, outcome);
        }
        outcomes
    }

    /// One decoded event (of the families this router handles).
    async fn route(&self, event: &Event, via: Via) -> Outcome {
        match event {
            Event::Message(evt) => self.message_event(evt, via).await,
            Event::Member(evt) => self.member_event(evt).await,
            Event::Receipt(evt) => self.receipt_event(evt, via).await,
            Event::Presence(_) | Event::Skip => Outcome::Ack,
        }
    }

    /// Presence changes: only each user's newest in the batch is routed (a change carries the
    /// whole state), to the audiences asked for together.
    async fn route_presence(&self, batch: &[Item<'_, Event>]) -> Outcomes {
        let latest = latest_presence(batch);
        let mut audiences = self.audiences(batch, &latest).await;
        let mut outcomes = Outcomes::of(batch);
        for (i, item) in batch.iter().enumerate() {
            let outcome = match &item.command {
                Event::Presence(evt) => match latest.get(item.subject()) {
                    Some(&newest) if newest == i => {
                        self.presence_event(evt, &mut audiences).await
                    }
                    _ => {
                        metrics::counter!(m::PRESENCE_SUPERSEDED).increment(1);
                        Outcome::Ack
                    }
                },
                // Not a presence change (the consumer's filter lets none through).
                _ => Outcome::Ack,
            };
            outcomes.set(item, outcome);
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
            match self.decode_via(Incoming::of(msg), Via::Live) {
                Ok(event) => {
                    let _ = self.route(&event, Via::Live).await;
                }
                Err(error) => {
                    tracing::error!(%error, via = Via::Live.as_str(), subject = %msg.subject, "undecodable live copy skipped");
                }
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
    /// only once it is routed, so a copy that fails here is still routed by the other. A copy
    /// whose key header names an event already routed was skipped undecoded; this checks again
    /// by the key the event names, for a copy without the header and for the other copy routed
    /// meanwhile.
    async fn message_event(&self, evt: &MessageEvent, via: Via) -> Outcome {
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

    async fn member_event(&self, evt: &MemberEvent) -> Outcome {
        let conv = evt.conversation.id;
        self.members.put_event(evt);
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
                conversation: evt.conversation.clone(),
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
    async fn receipt_event(&self, evt: &ReceiptEvent, via: Via) -> Outcome {
        let key = subjects::receipt_event_msg_id(
            evt.conversation_id,
            evt.user_id,
            evt.delivered_seq,
            evt.read_seq,
        );
        // Its other copy may have been routed since this one was decoded.
        if self.second_copy(&key, via) {
            return Outcome::Ack;
        }
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
        batch: &[Item<'_, Event>],
        latest: &HashMap<&str, usize>,
    ) -> Audiences {
        use futures::StreamExt;
        let mut users: Vec<Uuid> = latest
            .values()
            .filter_map(|&i| match &batch[i].command {
                Event::Presence(e) => Some(e.user_id),
                _ => None,
            })
            .collect();
        users.sort();
        users.dedup();
        futures::stream::iter(users)
            .map(|user_id| async move {
                let audience = parley_kit::service::request::<
                    parley_contracts::endpoint::PresenceAudience,
                >(&self.nats, &PresenceAudience { user_id })
                .await;
                (user_id, audience)
            })
            .buffer_unordered(32)
            .collect()
            .await
    }

    /// A presence change → the user's audience (contacts allowed by privacy and blocks, as the
    /// directory computes it) and the user's own devices.
    async fn presence_event(&self, evt: &PresenceEvent, audiences: &mut Audiences) -> Outcome {
        // Asked for with the batch; a user whose event subject is not its id (none today)
        // is asked here.
        let asked = match audiences.remove(&evt.user_id) {
            Some(a) => a,
            None => {
                parley_kit::service::request::<parley_contracts::endpoint::PresenceAudience>(
                    &self.nats,
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
