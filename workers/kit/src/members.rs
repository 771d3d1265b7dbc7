//! A bounded, TTL-expiring cache of conversation membership, kept fresh by subscribing to
//! `chat.evt.member.>` on core NATS (so every instance hears every change, not only the one
//! whose durable consumer got the event). Used by the edge and by delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use parley_contracts::api::Role;
use parley_contracts::error::ApiError;
use parley_contracts::events::MemberEvent;
use parley_contracts::subjects::{self, svc};
use parley_contracts::svc::{Members, MembersReply};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type Entry = (Arc<Vec<(Uuid, Role)>>, Instant);

#[derive(Clone)]
pub struct MemberCache {
    nats: async_nats::Client,
    inner: Arc<Mutex<HashMap<Uuid, Entry>>>,
    ttl: Duration,
    capacity: usize,
}

impl MemberCache {
    /// Starts the invalidation subscription; it lives until `stop`.
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
        let mut sub = nats.subscribe(subjects::EVT_MEMBER_ALL).await?;
        let c = cache.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = stop.cancelled() => break,
                    m = sub.next() => m,
                };
                let Some(msg) = msg else { break };
                match serde_json::from_slice::<MemberEvent>(&msg.payload) {
                    Ok(evt) => c.put(
                        evt.conversation.id,
                        evt.conversation
                            .members
                            .iter()
                            .map(|m| (m.user_id, m.role))
                            .collect(),
                    ),
                    Err(_) => {
                        if let Some(id) = subjects::trailing_id(&msg.subject) {
                            c.forget(id);
                        }
                    }
                }
            }
        });
        Ok(cache)
    }

    pub fn put(&self, conversation: Uuid, members: Vec<(Uuid, Role)>) {
        if let Ok(mut map) = self.inner.lock() {
            if map.len() >= self.capacity {
                let now = Instant::now();
                map.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
                if map.len() >= self.capacity {
                    map.clear();
                }
            }
            map.insert(conversation, (Arc::new(members), Instant::now()));
        }
    }

    pub fn forget(&self, conversation: Uuid) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(&conversation);
        }
    }

    fn cached(&self, conversation: Uuid) -> Option<Arc<Vec<(Uuid, Role)>>> {
        let map = self.inner.lock().ok()?;
        let (members, at) = map.get(&conversation)?;
        (at.elapsed() < self.ttl).then(|| members.clone())
    }

    /// Members with roles; asks the directory on a miss.
    pub async fn members(&self, conversation: Uuid) -> Result<Arc<Vec<(Uuid, Role)>>, ApiError> {
        if let Some(m) = self.cached(conversation) {
            return Ok(m);
        }
        let reply: MembersReply = crate::nats::request(
            &self.nats,
            svc::MEMBERS,
            &Members {
                conversation_id: conversation,
            },
        )
        .await?;
        let members: Vec<(Uuid, Role)> = reply
            .members
            .into_iter()
            .map(|m| (m.user_id, m.role))
            .collect();
        self.put(conversation, members);
        self.cached(conversation)
            .ok_or_else(|| ApiError::new(parley_contracts::ErrorCode::Internal, "member cache"))
    }

    /// The user's role, or None when not a member.
    pub async fn role(&self, conversation: Uuid, user: Uuid) -> Result<Option<Role>, ApiError> {
        Ok(self
            .members(conversation)
            .await?
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, r)| *r))
    }
}
