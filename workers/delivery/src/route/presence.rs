//! Presence changes (their own consumer) → the audience the directory computes and the user's
//! own devices; within a batch only each user's newest change is routed.

use std::time::Duration;

use bytes::Bytes;
use parley_contracts::frames::ServerFrame;
use parley_kit::consume::Outcome;
use parley_kit::metrics_names as m;
use uuid::Uuid;

use super::Router;
use std::collections::HashMap;

use parley_contracts::events::PresenceEvent;
use parley_contracts::svc::{PresenceAudience, UserIds};
use parley_kit::consume::{Item, Outcomes};

use super::Event;

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

impl Router {
    /// Presence changes: only each user's newest in the batch is routed (a change carries the
    /// whole state), to the audiences asked for together.
    pub(super) async fn route_presence(&self, batch: &[Item<'_, Event>]) -> Outcomes {
        let latest = latest_presence(batch);
        let mut audiences = self.audiences(batch, &latest).await;
        let mut outcomes = Outcomes::of(batch);
        for (i, item) in batch.iter().enumerate() {
            let outcome = match &item.command {
                Event::Presence(evt) => match latest.get(item.subject()) {
                    Some(&newest) if newest == i => self.presence_event(evt, &mut audiences).await,
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

    /// The audience of every user whose presence change this batch routes, asked for at once
    /// (up to 32 requests in flight). Not cached: a block or a privacy change must apply at once.
    pub(super) async fn audiences(
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
    pub(super) async fn presence_event(
        &self,
        evt: &PresenceEvent,
        audiences: &mut Audiences,
    ) -> Outcome {
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
}
