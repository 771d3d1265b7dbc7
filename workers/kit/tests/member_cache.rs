//! The membership cache against a real nats-server and a directory stand-in on the real
//! request subject: misses of one conversation share one lookup, a conversation in use is
//! refreshed before it expires without anyone waiting, and a change seen while a lookup is on
//! its way is not overwritten by the lookup's older answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parley_contracts::api::Role;
use parley_contracts::subjects::svc;
use parley_contracts::svc::{MemberRole, MembersReply};
use parley_kit::members::MemberCache;
use parley_testkit::NatsServer;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Answers every lookup after `delay` with one member: the user whose id is the number of
/// lookups answered so far, so each answer says which lookup it was.
async fn directory(
    client: async_nats::Client,
    delay: Duration,
    shutdown: CancellationToken,
) -> Arc<AtomicUsize> {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    tokio::spawn(parley_kit::service::serve(
        client.clone(),
        svc::MEMBERS,
        "test-directory",
        64,
        shutdown,
        move |_subject, _payload| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(delay).await;
                parley_kit::service::Answer::of::<MembersReply>(Ok(MembersReply {
                    members: vec![MemberRole {
                        user_id: Uuid::from_u128(n as u128),
                        role: Role::Member,
                    }],
                    blocked: false,
                }))
            }
        },
    ));
    // Served once a request is answered (the subscription is registered by then).
    let probe = MemberCache::start(
        client,
        Duration::from_secs(60),
        16,
        CancellationToken::new(),
    )
    .await
    .expect("probe cache");
    for _ in 0..50 {
        if probe.members(Uuid::now_v7()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    asked.store(0, Ordering::SeqCst);
    asked
}

fn only_member(members: &[(Uuid, Role)]) -> u128 {
    assert_eq!(members.len(), 1, "{members:?}");
    members[0].0.as_u128()
}

#[tokio::test]
async fn lookups_are_shared_refreshed_ahead_and_never_newer_than_events() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let client = nats.client().await?;
    let stop = CancellationToken::new();
    let asked = directory(client.clone(), Duration::from_millis(150), stop.clone()).await;
    let ttl = Duration::from_millis(1200);
    let cache = MemberCache::start(client.clone(), ttl, 1000, stop.clone()).await?;

    // 50 concurrent misses of one conversation: one lookup, one answer for all.
    let conv = Uuid::now_v7();
    let asked_at = Instant::now();
    let answers = futures::future::join_all((0..50).map(|_| cache.members(conv))).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "concurrent misses share a lookup"
    );
    for a in answers {
        assert_eq!(only_member(&a?), 1);
    }

    // Past the refresh point (at most 3/4 of the TTL) but before expiry: answered at once
    // from the cache, while one lookup runs in the background.
    tokio::time::sleep_until((asked_at + ttl * 3 / 4 + Duration::from_millis(50)).into()).await;
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(only_member(&cache.members(conv).await?), 1);
    }
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "due entries are served without waiting ({:?})",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(asked.load(Ordering::SeqCst), 2, "one background refresh");
    assert_eq!(
        only_member(&cache.members(conv).await?),
        2,
        "the refresh landed"
    );

    // An expired entry is looked up again, and waited for.
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let t = Instant::now();
    assert_eq!(only_member(&cache.members(conv).await?), 3);
    assert!(
        t.elapsed() >= Duration::from_millis(140),
        "an expired entry is not served"
    );

    // A change that arrives while a lookup is on its way wins over the lookup's answer.
    let other = Uuid::now_v7();
    let lookup = tokio::spawn({
        let cache = cache.clone();
        async move { cache.members(other).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let newer = Uuid::now_v7();
    cache.put(other, vec![(newer, Role::Admin)], false);
    let _ = lookup.await?;
    assert_eq!(asked.load(Ordering::SeqCst), 4);
    assert_eq!(
        *cache.members(other).await?,
        vec![(newer, Role::Admin)],
        "the event's state stays"
    );
    stop.cancel();
    Ok(())
}
