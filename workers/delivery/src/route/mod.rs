//! Event → frame → every member's `chat.user.<id>`: the router (decoding, the two copies of
//! an event, fan-out) here, one module per event family.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parley_contracts::events::{MemberEvent, MessageEvent, PresenceEvent, ReceiptEvent};
use parley_contracts::subjects;
use parley_kit::consume::{BatchHandler, DecodeError, Incoming, Item, Outcome, Outcomes, Started};
use parley_kit::members::MemberCache;
use parley_kit::metrics_names as m;
use parley_kit::settings::SettingsCache;
use uuid::Uuid;

use crate::recent::Recent;

mod members;
mod messages;
mod presence;
mod receipts;

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
