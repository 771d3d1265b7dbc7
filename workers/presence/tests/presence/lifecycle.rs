//! Connections, chosen status and what others see.

use std::time::Duration;

use parley_contracts::api::{PresenceSetStatus, PresenceStatus};
use parley_contracts::events::PresenceAction;
use uuid::Uuid;

use crate::common::{Env, ready};

const QUIET: Duration = Duration::from_millis(500);

#[tokio::test]
async fn online_while_any_connection_lives_offline_with_last_seen_after_the_last()
-> anyhow::Result<()> {
    let env = Env::start().await?;
    let worker = env.worker(1000).await?;
    ready(&env).await?;
    let user = Uuid::now_v7();
    let (phone, laptop) = (Uuid::now_v7(), Uuid::now_v7());
    let mut events = env
        .events(parley_contracts::subjects::evt_presence(user))
        .await?;

    env.connect(user, phone).await?;
    let online = events.expect().await?;
    assert_eq!(
        (online.user_id, online.status, online.last_seen),
        (user, PresenceStatus::Online, None),
        "first sighting: online, never seen before"
    );
    assert_eq!(
        env.get(&[user]).await?.users[0].status,
        PresenceStatus::Online
    );

    env.connect(user, laptop).await?;
    env.disconnect(user, phone).await?;
    events.expect_none(QUIET).await?;
    assert_eq!(
        env.get(&[user]).await?.users[0].status,
        PresenceStatus::Online,
        "one of two connections closed: still online"
    );

    env.disconnect(user, laptop).await?;
    let offline = events.expect().await?;
    assert_eq!(offline.status, PresenceStatus::Offline);
    let last_seen = offline.last_seen.expect("offline carries last seen");
    assert!(last_seen <= offline.at && offline.at - last_seen < chrono::TimeDelta::seconds(1));
    let got = env.get(&[user]).await?;
    assert_eq!(got.users[0].user_id, user);
    assert_eq!(got.users[0].status, PresenceStatus::Offline);
    assert_eq!(got.users[0].last_seen, Some(last_seen));

    // Back online: the event carries the previous visit.
    env.connect(user, Uuid::now_v7()).await?;
    let back = events.expect().await?;
    assert_eq!(
        (back.status, back.last_seen),
        (PresenceStatus::Online, Some(last_seen))
    );
    worker.shutdown().await
}

#[tokio::test]
async fn chosen_status_is_shown_persists_and_invisible_reads_offline() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let worker = env.worker(1000).await?;
    ready(&env).await?;
    let user = Uuid::now_v7();
    let conn = Uuid::now_v7();
    let mut events = env
        .events(parley_contracts::subjects::evt_presence(user))
        .await?;

    env.connect(user, conn).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Online);
    env.set(user, conn, PresenceSetStatus::Away).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Away);
    assert_eq!(
        env.get(&[user]).await?.users[0].status,
        PresenceStatus::Away
    );
    env.set(user, conn, PresenceSetStatus::Busy).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Busy);

    // Invisible: connected, yet others see offline (with a last seen), never "invisible".
    env.set(user, conn, PresenceSetStatus::Invisible).await?;
    let hidden = events.expect().await?;
    assert_eq!(hidden.status, PresenceStatus::Offline);
    assert!(hidden.last_seen.is_some());
    let got = env.get(&[user]).await?;
    assert_eq!(got.users[0].status, PresenceStatus::Offline);
    // Heartbeats and more connections of an invisible user reveal nothing.
    let tablet = Uuid::now_v7();
    env.connect(user, tablet).await?;
    env.send(user, conn, PresenceAction::Heartbeat, None, 30)
        .await?;
    events.expect_none(QUIET).await?;

    // The choice outlives the connections: away, all gone → offline, back → away again.
    env.set(user, conn, PresenceSetStatus::Away).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Away);
    env.disconnect(user, conn).await?;
    env.disconnect(user, tablet).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Offline);
    env.connect(user, Uuid::now_v7()).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Away);
    assert_eq!(
        env.get(&[user]).await?.users[0].status,
        PresenceStatus::Away
    );
    worker.shutdown().await
}

#[tokio::test]
async fn a_heartbeat_overtaken_by_its_disconnect_does_not_revive_the_connection()
-> anyhow::Result<()> {
    let env = Env::start().await?;
    let worker = env.worker(1000).await?;
    ready(&env).await?;
    let user = Uuid::now_v7();
    let conn = Uuid::now_v7();
    let mut events = env
        .events(parley_contracts::subjects::evt_presence(user))
        .await?;
    env.connect(user, conn).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Online);
    env.disconnect(user, conn).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Offline);
    env.send(user, conn, PresenceAction::Heartbeat, None, 30)
        .await?;
    events.expect_none(QUIET).await?;
    assert_eq!(
        env.get(&[user]).await?.users[0].status,
        PresenceStatus::Offline
    );
    worker.shutdown().await
}
