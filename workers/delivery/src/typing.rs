//! Typing routing: core subscription to `chat.typing.>` shared by delivery instances in a
//! queue group; each event goes to the other members' devices. Nothing is acked or retried:
//! a lost typing hint is replaced by the next one within a second.

use bytes::Bytes;
use futures::StreamExt;
use parley_contracts::events::TypingEvent;
use parley_contracts::frames::ServerFrame;
use parley_contracts::subjects;
use parley_kit::CancellationToken;
use parley_kit::members::MemberCache;
use parley_kit::metrics_names as m;

pub async fn run(
    nats: async_nats::Client,
    members: MemberCache,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut sub = nats
        .queue_subscribe(subjects::TYPING_ALL, subjects::TYPING_QUEUE.to_string())
        .await?;
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            m = sub.next() => m,
        };
        let Some(msg) = msg else { break };
        let Ok(evt) = serde_json::from_slice::<TypingEvent>(&msg.payload) else {
            metrics::counter!(m::CONSUMER_ERRORS, "consumer" => "typing", "stage" => "decode")
                .increment(1);
            continue;
        };
        let Ok(list) = members.members(evt.conversation_id).await else {
            continue;
        };
        // Only members' hints are routed (the edge checked; this guards against stale caches).
        if !list.iter().any(|(u, _)| *u == evt.user_id) {
            continue;
        }
        let frame = Bytes::from(
            ServerFrame::Typing {
                conversation_id: evt.conversation_id,
                user_id: evt.user_id,
                state: evt.state,
            }
            .to_json(),
        );
        for (user, _) in list.iter().filter(|(u, _)| *u != evt.user_id) {
            let _ = nats.publish(subjects::user(*user), frame.clone()).await;
        }
        metrics::counter!(m::CONSUMER_PROCESSED, "consumer" => "typing").increment(1);
    }
    let _ = sub.unsubscribe().await;
    Ok(())
}
