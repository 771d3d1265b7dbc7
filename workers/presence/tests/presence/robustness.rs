//! Bad input, request limits, readiness and shutdown.

use std::time::Duration;

use parley_contracts::ErrorCode;
use parley_contracts::api::PresenceStatus;
use parley_contracts::subjects;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::common::{Env, ready};

#[tokio::test]
async fn malformed_and_misaddressed_commands_are_skipped() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let worker = env.worker(1000).await?;
    ready(&env).await?;
    let user = Uuid::now_v7();
    let mut events = env.events(subjects::evt_presence(user)).await?;

    for junk in [
        &b"not json"[..],
        b"{}",
        br#"{"v":1,"userId":"nope","connectionId":"x","action":"connect","ttlSeconds":30}"#,
        b"\xff\xfe\x00",
    ] {
        env.nats
            .publish(subjects::presence(user), bytes::Bytes::from_static(junk))
            .await?;
    }
    // A well-formed command whose subject names another user: the edge authorised the subject.
    let cmd = parley_contracts::events::PresenceCommand {
        v: 1,
        user_id: user,
        connection_id: Uuid::now_v7(),
        action: parley_contracts::events::PresenceAction::Connect,
        status: None,
        ttl_seconds: 30,
        at: chrono::Utc::now(),
    };
    env.nats
        .publish(
            subjects::presence(Uuid::now_v7()),
            serde_json::to_vec(&cmd)?.into(),
        )
        .await?;
    env.nats.flush().await?;
    events.expect_none(Duration::from_millis(500)).await?;

    // Still alive and working.
    env.connect(user, Uuid::now_v7()).await?;
    assert_eq!(events.expect().await?.status, PresenceStatus::Online);
    worker.shutdown().await
}

#[tokio::test]
async fn get_reports_unknown_users_offline_and_refuses_more_than_the_limit() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let worker = env.worker(1000).await?;
    ready(&env).await?;

    let unknown = [Uuid::now_v7(), Uuid::now_v7()];
    let reply = env.get(&unknown).await?;
    assert_eq!(reply.users.len(), 2);
    for (u, id) in reply.users.iter().zip(unknown) {
        assert_eq!(
            (u.user_id, u.status, u.last_seen),
            (id, PresenceStatus::Offline, None)
        );
    }

    let at_limit: Vec<Uuid> = (0..parley_presence::MAX_IDS)
        .map(|_| Uuid::now_v7())
        .collect();
    assert_eq!(
        env.get(&at_limit).await?.users.len(),
        parley_presence::MAX_IDS
    );
    let over: Vec<Uuid> = (0..=parley_presence::MAX_IDS)
        .map(|_| Uuid::now_v7())
        .collect();
    let err = env.get(&over).await.expect_err("over the limit");
    assert_eq!(err.code, ErrorCode::BadRequest);

    let bad = env
        .nats
        .request(
            subjects::svc::PRESENCE_GET,
            bytes::Bytes::from_static(b"{\"userIds\":\"x\"}"),
        )
        .await?;
    assert!(String::from_utf8_lossy(&bad.payload).contains("bad_request"));
    worker.shutdown().await
}

#[tokio::test]
async fn ready_when_nats_and_redis_answer_and_shuts_down_cleanly() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let worker = env.worker(1000).await?;
    ready(&env).await?;
    let ops = worker.ops.expect("ops listener on port 0");
    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let mut s = tokio::net::TcpStream::connect(ops).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await?;
        let mut body = String::new();
        s.read_to_string(&mut body).await?;
        assert!(
            body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
            "{path}: {body}"
        );
        assert!(body.ends_with(want), "{path}: {body}");
    }
    let mut s = tokio::net::TcpStream::connect(ops).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    assert!(body.contains("parley_redis_command_seconds"), "{body}");

    let started = std::time::Instant::now();
    worker.shutdown().await?;
    assert!(started.elapsed() < Duration::from_secs(3));
    // Nobody answers any more.
    assert!(env.get(&[]).await.is_err());
    Ok(())
}
