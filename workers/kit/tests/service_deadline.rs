//! Request/reply services against a real nats-server: a request whose caller has stopped
//! waiting (its `Parley-Deadline` passed while it queued) is skipped, so an overloaded service
//! spends its time on requests that can still be answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parley_contracts::svc::DEADLINE_HEADER;
use parley_testkit::NatsServer;
use tokio_util::sync::CancellationToken;

fn deadline_in(offset_ms: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    (now + offset_ms).to_string()
}

#[tokio::test]
async fn expired_requests_are_skipped_and_live_ones_answered() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let client = nats
        .options()?
        .request_timeout(Some(Duration::from_millis(800)))
        .connect(nats.url())
        .await?;
    let handled = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let serving = {
        let handled = handled.clone();
        tokio::spawn(parley_kit::service::serve(
            client.clone(),
            "svc.test.>",
            "test",
            1,
            shutdown.clone(),
            move |_subject, payload| {
                let handled = handled.clone();
                async move {
                    handled.fetch_add(1, Ordering::SeqCst);
                    parley_kit::service::Answer::of::<String>(Ok(
                        String::from_utf8_lossy(&payload).into()
                    ))
                }
            },
        ))
    };
    // The subscription is registered once a request without a deadline is answered.
    parley_testkit::await_service(&client, "svc.test.echo", b"hi").await?;
    let before = handled.load(Ordering::SeqCst);

    let mut past = async_nats::HeaderMap::new();
    past.insert(DEADLINE_HEADER, deadline_in(-1_000).as_str());
    let skipped = client
        .request_with_headers("svc.test.echo", past, Bytes::from_static(b"late"))
        .await;
    assert!(skipped.is_err(), "an expired request got a reply");

    let mut future = async_nats::HeaderMap::new();
    future.insert(DEADLINE_HEADER, deadline_in(5_000).as_str());
    let reply = client
        .request_with_headers("svc.test.echo", future, Bytes::from_static(b"live"))
        .await?;
    assert_eq!(&reply.payload[..], br#"{"ok":"live"}"#);

    let mut odd = async_nats::HeaderMap::new();
    odd.insert(DEADLINE_HEADER, "soon");
    let reply = client
        .request_with_headers("svc.test.echo", odd, Bytes::from_static(b"odd"))
        .await?;
    assert_eq!(
        &reply.payload[..],
        br#"{"ok":"odd"}"#,
        "an unreadable deadline is no deadline"
    );

    assert_eq!(
        handled.load(Ordering::SeqCst),
        before + 2,
        "the expired request was handled"
    );
    shutdown.cancel();
    serving.await??;
    Ok(())
}
