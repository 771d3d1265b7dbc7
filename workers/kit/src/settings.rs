//! A bounded, TTL-expiring cache of users' read-receipt settings, fetched in batches from the
//! directory and dropped per user on `chat.evt.user.<id>` (core subscription, so every instance
//! hears every change). Used where read watermarks are shown to others (delivery, edge).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_contracts::error::ApiError;
use parley_contracts::subjects;
use parley_contracts::svc::{SettingsGet, SettingsReply};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Clone)]
pub struct SettingsCache {
    nats: async_nats::Client,
    inner: Arc<Mutex<HashMap<Uuid, (bool, Instant)>>>,
    ttl: Duration,
    capacity: usize,
}

impl SettingsCache {
    pub async fn start(
        nats: async_nats::Client,
        ttl: Duration,
        capacity: usize,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        let cache = Self {
            nats: nats.clone(),
            inner: Arc::default(),
            ttl,
            capacity,
        };
        let c = cache.clone();
        crate::follow::follow(&nats, subjects::EVT_USER_ALL, stop, move |msg| {
            if let Some(user) = subjects::trailing_id(&msg.subject)
                && let Ok(mut map) = c.inner.lock()
            {
                map.remove(&user);
            }
        })
        .await?;
        Ok(cache)
    }

    /// Fill the cache for `users` with as few requests as the directory allows, so that a batch
    /// of receipts does not ask once per event. A failure is left for the callers to meet.
    pub async fn prefetch(&self, users: &[Uuid]) {
        for chunk in users.chunks(parley_contracts::limits::MAX_USER_IDS_PER_REQUEST) {
            if let Err(error) = self.read_receipts(chunk).await {
                tracing::debug!(%error, "settings prefetch failed");
                return;
            }
        }
    }

    /// Whether each of `users` sends (and so sees) read receipts; asks the directory for the
    /// ones not cached.
    pub async fn read_receipts(&self, users: &[Uuid]) -> Result<HashMap<Uuid, bool>, ApiError> {
        let mut out = HashMap::with_capacity(users.len());
        let mut missing = Vec::new();
        if let Ok(map) = self.inner.lock() {
            for u in users {
                match map.get(u) {
                    Some((on, at)) if at.elapsed() < self.ttl => {
                        out.insert(*u, *on);
                    }
                    _ => missing.push(*u),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let reply: SettingsReply =
            crate::service::request::<parley_contracts::endpoint::SettingsGet>(
                &self.nats,
                &SettingsGet {
                    user_ids: missing.clone(),
                },
            )
            .await?;
        let now = Instant::now();
        if let Ok(mut map) = self.inner.lock() {
            if map.len() + missing.len() > self.capacity {
                map.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
                if map.len() + missing.len() > self.capacity {
                    map.clear();
                }
            }
            for s in &reply.users {
                map.insert(s.user_id, (s.read_receipts, now));
            }
        }
        for s in reply.users {
            out.insert(s.user_id, s.read_receipts);
        }
        // Users the directory does not know have nothing to hide.
        for u in missing {
            out.entry(u).or_insert(true);
        }
        Ok(out)
    }
}

/// The read watermark `viewer` may see of `owner`: their own always; others' only when both
/// send read receipts.
pub fn visible_read_seq(
    settings: &HashMap<Uuid, bool>,
    viewer: Uuid,
    owner: Uuid,
    read_seq: u64,
) -> u64 {
    if viewer == owner {
        return read_seq;
    }
    let on = |u: &Uuid| settings.get(u).copied().unwrap_or(true);
    if on(&viewer) && on(&owner) {
        read_seq
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_seq_hidden_unless_both_share() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut s = HashMap::new();
        s.insert(a, true);
        s.insert(b, true);
        assert_eq!(visible_read_seq(&s, a, b, 7), 7);
        s.insert(b, false);
        assert_eq!(visible_read_seq(&s, a, b, 7), 0);
        assert_eq!(visible_read_seq(&s, b, a, 7), 0);
        assert_eq!(visible_read_seq(&s, b, b, 7), 7);
    }
}
