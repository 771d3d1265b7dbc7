//! Publishing a transition as `presence.changed` on `chat.evt.presence.<user>` (EVENTS).

use std::time::{Duration, Instant};

use parley_contracts::events::PresenceEvent;
use parley_contracts::{SCHEMA_VERSION, subjects};
use parley_kit::metrics_names as m;

use crate::Ctx;
use crate::store::Outcome;

const ATTEMPTS: u32 = 3;
/// Republishes after crossed publishes, per transition; one suffices unless transitions keep
/// racing, and then the next transition's own check follows up.
const MAX_RESENDS: usize = 2;

/// Which path noticed the transition (a metric label).
#[derive(Debug, Clone, Copy)]
pub enum Via {
    Command,
    Sweep,
    /// The current state published again after publishes of two instances crossed.
    Resend,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Sweep => "sweep",
            Self::Resend => "resend",
        }
    }
}

pub fn event(o: &Outcome) -> PresenceEvent {
    PresenceEvent {
        v: SCHEMA_VERSION,
        user_id: o.user,
        status: o.shown,
        last_seen: o.last_seen,
        at: o.at,
    }
}

/// `Nats-Msg-Id` naming one transition: a retried publish is a duplicate, while a transition
/// after a Redis restart (version counting from 1 again) is not mistaken for an old one.
pub fn msg_id(o: &Outcome) -> String {
    format!(
        "presence:{}:{}:{}",
        o.user,
        o.version,
        o.at.timestamp_millis()
    )
}

/// Publish the transition and wait for its PubAck, then check that publishes of the same user
/// by other instances did not land after it out of order (republishing the current state if
/// they did). The state in Redis is already changed, so failures are logged and counted, not
/// propagated: the user's next transition corrects what others see.
pub async fn publish(ctx: &Ctx, o: &Outcome, via: Via) {
    metrics::counter!(m::PRESENCE_TRANSITIONS, "status" => o.shown.as_str(), "via" => via.as_str())
        .increment(1);
    let mut next = Some((o.clone(), msg_id(o)));
    for _ in 0..=MAX_RESENDS {
        let Some((o, id)) = next.take() else { break };
        let Some(seq) = publish_acked(&ctx.js, &o, &id).await else {
            return;
        };
        match ctx.store.record_published(o.user, seq, o.version).await {
            Ok(None) => {}
            Ok(Some(current)) => {
                metrics::counter!(m::PRESENCE_TRANSITIONS, "status" => current.shown.as_str(), "via" => Via::Resend.as_str())
                    .increment(1);
                let id = format!("{}:after:{seq}", msg_id(&current));
                next = Some((current, id));
            }
            Err(error) => {
                tracing::warn!(%error, user = %o.user, "presence event position not recorded");
            }
        }
    }
}

/// One event, retried briefly; the stream sequence it was stored at.
async fn publish_acked(js: &async_nats::jetstream::Context, o: &Outcome, id: &str) -> Option<u64> {
    let payload = match serde_json::to_vec(&event(o)) {
        Ok(p) => bytes::Bytes::from(p),
        Err(error) => {
            tracing::error!(%error, "presence event not encoded");
            return None;
        }
    };
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        let started = Instant::now();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        let result = match js
            .publish_with_headers(subjects::evt_presence(o.user), headers, payload.clone())
            .await
        {
            Ok(ack) => ack.await.map(|a| a.sequence).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        metrics::histogram!(m::JETSTREAM_PUBLISH_SECONDS).record(started.elapsed().as_secs_f64());
        match result {
            Ok(seq) => return Some(seq),
            Err(e) => last_error = e,
        }
    }
    metrics::counter!(m::CONSUMER_ERRORS, "consumer" => "presence", "stage" => "publish")
        .increment(1);
    tracing::error!(error = %last_error, user = %o.user, status = o.shown.as_str(), "presence event not published");
    None
}
