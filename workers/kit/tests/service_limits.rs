//! Request/reply against a real nats-server: a reply too large for NATS comes back at once as
//! `internal` instead of a time-out, and neither such replies, error replies nor requests too
//! large to send open the service's breaker — one caller's requests cannot refuse everyone.

use std::time::{Duration, Instant};

use parley_contracts::ErrorCode;
use parley_contracts::error::ApiError;
use parley_kit::nats::request;
use parley_kit::service::Answer;
use parley_testkit::NatsServer;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn oversize_and_refused_requests_answer_at_once_and_leave_the_breaker_closed()
-> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let client = nats.client().await?;
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(parley_kit::service::serve(
        client.clone(),
        "svc.test.>",
        "test",
        4,
        shutdown.clone(),
        |subject, _payload| async move {
            match subject.as_str() {
                // Twice NATS' payload limit.
                "svc.test.big" => Answer::of::<String>(Ok("x".repeat(2 << 20))),
                "svc.test.bad" => {
                    Answer::of::<String>(Err(ApiError::new(ErrorCode::BadRequest, "no such thing")))
                }
                _ => Answer::of::<String>(Ok("fine".into())),
            }
        },
    ));
    parley_testkit::await_service(&client, "svc.test.small", b"{}").await?;

    // More of each than the breaker's threshold (5 failures in a row).
    for _ in 0..8 {
        let started = Instant::now();
        let e = request::<_, String>(&client, "svc.test.big", &())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal, "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited for a time-out"
        );
        let e = request::<_, String>(&client, "svc.test.bad", &())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest, "{e}");
        let e = request::<_, String>(&client, "svc.test.small", &"y".repeat(2 << 20))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal, "{e}");
    }
    let fine: String = request(&client, "svc.test.small", &()).await?;
    assert_eq!(fine, "fine");

    shutdown.cancel();
    serving.await??;
    Ok(())
}
