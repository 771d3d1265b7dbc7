//! Expiry through the sweeper, and several instances at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parley_contracts::api::{PresenceSetStatus, PresenceStatus};
use parley_contracts::events::PresenceAction;
use parley_contracts::subjects;
use uuid::Uuid;

use crate::common::{Env, ready};

#[tokio::test]
async fn a_silent_connection_goes_offline_within_ttl_plus_sweep_while_a_beating_one_stays()
-> anyhow::Result<()> {
    let env = Env::start().await?;
    let worker = env.worker(1000).await?;
    ready(&env).await?;
    let (crashed, alive) = (Uuid::now_v7(), Uuid::now_v7());
    let (crashed_conn, alive_conn) = (Uuid::now_v7(), Uuid::now_v7());
    let mut crashed_events = env.events(subjects::evt_presence(crashed)).await?;
    let mut alive_events = env.events(subjects::evt_presence(alive)).await?;

    // Both on an edge with a 1 s TTL; then the first one's edge is killed: no more heartbeats,
    // no disconnect.
    env.send(crashed, crashed_conn, PresenceAction::Connect, None, 1)
        .await?;
    env.send(alive, alive_conn, PresenceAction::Connect, None, 1)
        .await?;
    assert_eq!(
        crashed_events.expect().await?.status,
        PresenceStatus::Online
    );
    assert_eq!(alive_events.expect().await?.status, PresenceStatus::Online);
    let killed = Instant::now();

    let beating = {
        let nats = env.nats.clone();
        tokio::spawn(async move {
            for _ in 0..12 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let cmd = parley_contracts::events::PresenceCommand {
                    v: 1,
                    user_id: alive,
                    connection_id: alive_conn,
                    action: PresenceAction::Heartbeat,
                    status: None,
                    ttl_seconds: 1,
                    at: chrono::Utc::now(),
                };
                let payload = serde_json::to_vec(&cmd).unwrap_or_default();
                let _ = nats
                    .publish(subjects::presence(alive), payload.into())
                    .await;
            }
        })
    };

    let offline = crashed_events
        .next(Duration::from_secs(4))
        .await?
        .ok_or_else(|| anyhow::anyhow!("the crashed edge's user never went offline"))?;
    let took = killed.elapsed();
    assert_eq!(offline.status, PresenceStatus::Offline);
    assert!(offline.last_seen.is_some());
    assert!(
        took < Duration::from_millis(3000),
        "offline after {took:?}, expected within TTL (1 s) + sweep (1 s)"
    );
    assert_eq!(
        env.get(&[crashed]).await?.users[0].status,
        PresenceStatus::Offline
    );

    // Heartbeats every 300 ms keep a 1 s TTL alive through several sweeps.
    alive_events
        .expect_none(Duration::from_millis(2500))
        .await?;
    assert_eq!(
        env.get(&[alive]).await?.users[0].status,
        PresenceStatus::Online
    );
    beating.await?;
    worker.shutdown().await
}

#[tokio::test]
async fn two_instances_report_each_transition_exactly_once() -> anyhow::Result<()> {
    let env = Env::start().await?;
    // Fast sweeps on both, so that they race for the same due users.
    let first = env.worker(100).await?;
    let second = env.worker(100).await?;
    ready(&env).await?;
    let users: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();
    let mut events = env.events(subjects::EVT_PRESENCE_ALL.to_string()).await?;

    // Connections of 1 s TTL; once all are online, half disconnect cleanly (commands split
    // across the queue group) and half expire (both sweepers find them due).
    let conns: Vec<Uuid> = users.iter().map(|_| Uuid::now_v7()).collect();
    for (user, conn) in users.iter().zip(&conns) {
        env.send(*user, *conn, PresenceAction::Connect, None, 1)
            .await?;
    }
    let mut seen: HashMap<Uuid, Vec<PresenceStatus>> = HashMap::new();
    for _ in 0..users.len() {
        let e = events.expect().await?;
        seen.entry(e.user_id).or_default().push(e.status);
    }
    for (user, conn) in users.iter().zip(&conns).take(20) {
        env.disconnect(*user, *conn).await?;
    }
    while let Some(e) = events.next(Duration::from_secs(4)).await? {
        seen.entry(e.user_id).or_default().push(e.status);
        if seen.values().map(Vec::len).sum::<usize>() == 2 * users.len() {
            // Everything expected is in; give a duplicate time to show up.
            events.expect_none(Duration::from_secs(1)).await?;
            break;
        }
    }
    for user in &users {
        assert_eq!(
            seen.get(user).map(Vec::as_slice),
            Some([PresenceStatus::Online, PresenceStatus::Offline].as_slice()),
            "user {user}"
        );
    }
    let reply = env.get(&users).await?;
    assert!(
        reply
            .users
            .iter()
            .all(|u| u.status == PresenceStatus::Offline)
    );
    first.shutdown().await?;
    second.shutdown().await
}

#[tokio::test]
async fn racing_commands_on_two_instances_leave_the_current_state_last_in_the_stream()
-> anyhow::Result<()> {
    let env = Env::start().await?;
    let first = env.worker(100).await?;
    let second = env.worker(100).await?;
    ready(&env).await?;
    let users: Vec<Uuid> = (0..30).map(|_| Uuid::now_v7()).collect();
    let mut events = env.events(subjects::EVT_PRESENCE_ALL.to_string()).await?;

    // Bursts with no waiting: the two instances apply and publish transitions of one user at
    // the same moment, and their publishes may cross.
    for round in 0..3 {
        for user in &users {
            let conn = Uuid::now_v7();
            env.connect(*user, conn).await?;
            env.set(*user, conn, PresenceSetStatus::Away).await?;
            env.set(*user, conn, PresenceSetStatus::Online).await?;
            if round < 2 {
                env.disconnect(*user, conn).await?;
            }
        }
    }
    let mut last: HashMap<Uuid, PresenceStatus> = HashMap::new();
    while let Some(e) = events.next(Duration::from_secs(2)).await? {
        last.insert(e.user_id, e.status);
    }
    let reply = env.get(&users).await?;
    for u in &reply.users {
        assert_eq!(
            last.get(&u.user_id)
                .copied()
                .unwrap_or(PresenceStatus::Offline),
            u.status,
            "user {}: the stream's last event disagrees with the state",
            u.user_id
        );
    }
    first.shutdown().await?;
    second.shutdown().await
}
