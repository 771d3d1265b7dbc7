//! A bounded, TTL-expiring cache of conversation membership, kept fresh by subscribing to
//! `chat.evt.member.>` on core NATS (so every instance hears every change, not only the one
//! whose durable consumer got the event). Used by the edge and by delivery.
//!
//! The TTL only covers change events that were missed. A conversation in use is refreshed in
//! the background from half its TTL on (the point jittered per conversation), so its lookups
//! never wait for the directory; and concurrent misses of one conversation share one request.
//! Without both, conversations cached together (created in one burst, or looked up after a
//! restart) expire together, and every send and delivery of each waits for the directory at
//! once, one request per waiting caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parley_contracts::api::Role;
use parley_contracts::error::ApiError;
use parley_contracts::events::MemberEvent;
use parley_contracts::subjects;
use parley_contracts::svc::{Members, MembersReply};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Members with roles, and whether the (direct) conversation is blocked.
type State = (Arc<Vec<(Uuid, Role)>>, bool);
/// A state and when it was true (cached from an event, or asked for).
type Entry = (Arc<Vec<(Uuid, Role)>>, bool, Instant);
/// A directory lookup that every caller missing the same conversation awaits.
type Fetch = Shared<BoxFuture<'static, Result<State, ApiError>>>;

#[derive(Clone)]
pub struct MemberCache {
    nats: async_nats::Client,
    inner: Arc<Mutex<HashMap<Uuid, Entry>>>,
    fetching: Arc<Mutex<HashMap<Uuid, Fetch>>>,
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
            fetching: Arc::default(),
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
        self.insert(conversation, members, blocked, Instant::now());
    }

    /// Cache a state that was true at `at`, unless a newer one is cached already (an event
    /// that arrived while a lookup was on its way).
    fn insert(&self, conversation: Uuid, members: Vec<(Uuid, Role)>, blocked: bool, at: Instant) {
        if let Ok(mut map) = self.inner.lock() {
            if map.get(&conversation).is_some_and(|(_, _, t)| *t > at) {
                return;
            }
            if map.len() >= self.capacity {
                let now = Instant::now();
                map.retain(|_, (_, _, t)| now.duration_since(*t) < self.ttl);
                if map.len() >= self.capacity {
                    map.clear();
                }
            }
            map.insert(conversation, (Arc::new(members), blocked, at));
        }
    }

    pub fn forget(&self, conversation: Uuid) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(&conversation);
        }
    }

    /// The cached state unless expired, and whether it is due for a refresh.
    fn cached(&self, conversation: Uuid) -> Option<(State, bool)> {
        let map = self.inner.lock().ok()?;
        let (members, blocked, at) = map.get(&conversation)?;
        let age = at.elapsed();
        (age < self.ttl).then(|| {
            (
                (members.clone(), *blocked),
                age >= self.refresh_after(conversation),
            )
        })
    }

    /// From half the TTL to three quarters, spread by conversation so that conversations
    /// cached together are not refreshed together.
    fn refresh_after(&self, conversation: Uuid) -> Duration {
        let spread = (self.ttl / 4).as_millis().max(1) as u64;
        self.ttl / 2 + Duration::from_millis((conversation.as_u128() as u64) % spread)
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
        match self.cached(conversation) {
            Some((state, false)) => Ok(state),
            Some((state, true)) => {
                // The lookup runs on its own (one per conversation); callers keep the cached
                // state meanwhile.
                if let (fetch, true) = self.fetch(conversation) {
                    tokio::spawn(fetch);
                }
                Ok(state)
            }
            None => self.fetch(conversation).0.await,
        }
    }

    /// The directory lookup of `conversation` in flight, or a new one (then `true`).
    fn fetch(&self, conversation: Uuid) -> (Fetch, bool) {
        let this = self.clone();
        let new = move || {
            async move {
                let result = this.lookup(conversation).await;
                if let Ok(mut fetching) = this.fetching.lock() {
                    fetching.remove(&conversation);
                }
                result
            }
            .boxed()
            .shared()
        };
        let Ok(mut fetching) = self.fetching.lock() else {
            return (new(), true);
        };
        if let Some(fetch) = fetching.get(&conversation) {
            return (fetch.clone(), false);
        }
        let fetch = new();
        fetching.insert(conversation, fetch.clone());
        (fetch, true)
    }

    async fn lookup(&self, conversation: Uuid) -> Result<State, ApiError> {
        let asked = Instant::now();
        let reply: MembersReply =
            crate::service::request::<parley_contracts::endpoint::MembersGet>(
                &self.nats,
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
        // The answer is as old as the question: an event seen since then wins.
        self.insert(conversation, members, reply.blocked, asked);
        self.cached(conversation)
            .map(|(state, _)| state)
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
