//! A bounded, TTL-expiring cache of conversation membership, kept fresh by subscribing to
//! `chat.evt.member.>` on core NATS (so every instance hears every change, not only the one
//! whose durable consumer got the event). Used by the edge and by delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_contracts::api::Role;
use parley_contracts::error::ApiError;
use parley_contracts::events::MemberEvent;
use parley_contracts::subjects::{self, svc};
use parley_contracts::svc::{Members, MembersReply};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Members with roles, and whether the (direct) conversation is blocked.
type State = (Arc<Vec<(Uuid, Role)>>, bool);
/// A state and when it was cached.
type Entry = (Arc<Vec<(Uuid, Role)>>, bool, Instant);

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
        let c = cache.clone();
        crate::follow::follow(&nats, subjects::EVT_MEMBER_ALL, stop, move |msg| {
            match serde_json::from_slice::<MemberEvent>(&msg.payload) {
                Ok(evt) => c.put_event(&evt),
                Err(_) => {
                    if let Some(id) = subjects::trailing_id(&msg.subject) {
                        c.forget(id);
                    }
                }
            }
        })
        .await?;
        Ok(cache)
    }

    /// Take the state a membership event carries.
    pub fn put_event(&self, evt: &MemberEvent) {
        self.put(
            evt.conversation.id,
            evt.conversation
                .members
                .iter()
                .map(|m| (m.user_id, m.role))
                .collect(),
            evt.conversation.blocked,
        );
    }

    pub fn put(&self, conversation: Uuid, members: Vec<(Uuid, Role)>, blocked: bool) {
        if let Ok(mut map) = self.inner.lock() {
            if map.len() >= self.capacity {
                let now = Instant::now();
                map.retain(|_, (_, _, at)| now.duration_since(*at) < self.ttl);
                if map.len() >= self.capacity {
                    map.clear();
                }
            }
            map.insert(conversation, (Arc::new(members), blocked, Instant::now()));
        }
    }

    pub fn forget(&self, conversation: Uuid) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(&conversation);
        }
    }

    fn cached(&self, conversation: Uuid) -> Option<State> {
        let map = self.inner.lock().ok()?;
        let (members, blocked, at) = map.get(&conversation)?;
        (at.elapsed() < self.ttl).then(|| (members.clone(), *blocked))
    }

    /// Ask the directory for every uncached conversation of `conversations` at once (up to 32
    /// requests in flight), so a batch of events for new conversations waits for one round of
    /// lookups instead of one after another. Failures are left for [`Self::members`] to report.
    pub async fn prefetch(&self, conversations: impl IntoIterator<Item = Uuid>) {
        use futures::StreamExt;
        let mut missing: Vec<Uuid> = conversations
            .into_iter()
            .filter(|c| self.cached(*c).is_none())
            .collect();
        missing.sort();
        missing.dedup();
        futures::stream::iter(missing)
            .for_each_concurrent(32, |c| async move {
                let _ = self.state(c).await;
            })
            .await;
    }

    /// Members with roles; asks the directory on a miss.
    pub async fn members(&self, conversation: Uuid) -> Result<Arc<Vec<(Uuid, Role)>>, ApiError> {
        Ok(self.state(conversation).await?.0)
    }

    /// Whether nobody may send in the conversation (a direct one with a block between its two).
    pub async fn blocked(&self, conversation: Uuid) -> Result<bool, ApiError> {
        Ok(self.state(conversation).await?.1)
    }

    async fn state(&self, conversation: Uuid) -> Result<State, ApiError> {
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
        self.put(conversation, members, reply.blocked);
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
