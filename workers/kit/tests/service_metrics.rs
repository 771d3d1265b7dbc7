//! A service's request metrics against a real nats-server: each declared endpoint is its own
//! label value (`svc.history.last_seqs` too), anything else is `other`, and the outcome is the
//! handler's `Result`.

use std::time::Duration;

use parley_contracts::endpoint::{self, Endpoint};
use parley_contracts::error::ApiError;
use parley_contracts::svc::{LastSeqs, LastSeqsReply};
use parley_contracts::{ErrorCode, subjects};
use parley_kit::service::{Answer, handle, request};
use parley_testkit::NatsServer;
use tokio_util::sync::CancellationToken;

async fn last_seqs(fail: &bool, req: LastSeqs) -> Result<LastSeqsReply, ApiError> {
    if *fail || req.conversation_ids.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "no conversations"));
    }
    Ok(LastSeqsReply { items: Vec::new() })
}

/// The counter line of one (endpoint, outcome) of `service`, if exported.
fn count(metrics: &str, service: &str, endpoint: &str, outcome: &str) -> Option<u64> {
    let series = format!(
        "parley_service_requests_total{{service=\"{service}\",endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} "
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn every_endpoint_is_its_own_label_and_outcomes_come_from_the_result() -> anyhow::Result<()> {
    let metrics = parley_kit::ops::install_metrics();
    let nats = NatsServer::start()?;
    let client = nats
        .options()?
        .request_timeout(Some(Duration::from_secs(2)))
        .connect(nats.url())
        .await?;
    let shutdown = CancellationToken::new();
    let service = "history-metrics-test";
    let serving = tokio::spawn(parley_kit::service::serve(
        client.clone(),
        subjects::svc::HISTORY_ALL,
        service,
        4,
        shutdown.clone(),
        |subject, payload| async move {
            match subject.as_str() {
                endpoint::HistoryLastSeqs::SUBJECT => {
                    handle::<endpoint::HistoryLastSeqs, _, _>(&false, &payload, last_seqs).await
                }
                other => Answer::unknown(other),
            }
        },
    ));
    // The subscription is registered once a request is answered.
    let ok = LastSeqs {
        conversation_ids: vec![uuid::Uuid::now_v7()],
    };
    let mut answered = false;
    for _ in 0..50 {
        if request::<endpoint::HistoryLastSeqs>(&client, &ok)
            .await
            .is_ok()
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "the service never answered");
    let refused = request::<endpoint::HistoryLastSeqs>(
        &client,
        &LastSeqs {
            conversation_ids: Vec::new(),
        },
    )
    .await;
    assert!(refused.is_err());
    let unknown = client
        .request("svc.history.nothing_here", "{}".into())
        .await?;
    assert!(unknown.payload.starts_with(br#"{"error""#));

    let rendered = metrics.render();
    let last = endpoint::HistoryLastSeqs::SUBJECT;
    assert!(
        count(&rendered, service, last, "ok").is_some_and(|n| n >= 1),
        "{rendered}"
    );
    assert_eq!(
        count(&rendered, service, last, "error"),
        Some(1),
        "{rendered}"
    );
    assert_eq!(
        count(&rendered, service, "other", "error"),
        Some(1),
        "{rendered}"
    );
    assert_eq!(count(&rendered, service, "other", "ok"), None, "{rendered}");
    shutdown.cancel();
    serving.await??;
    Ok(())
}
