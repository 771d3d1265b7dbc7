//! The live path: persist's core copies of message events (`chat.live.msg.>`) and the receipts
//! worker's of receipt events (`chat.live.receipt.>`), shared by delivery instances in a queue
//! group, routed as they come so that a change reaches its members without waiting for EVENTS'
//! synced write. The EVENTS consumer routes the stream's copy of any event this path did not
//! (a live copy lost, or not yet here).

use futures::StreamExt;
use parley_contracts::subjects;
use parley_kit::CancellationToken;

use crate::route::Router;

/// Live copies routed together at most (one member lookup for all of them).
const MAX_BATCH: usize = 256;

pub async fn run(
    nats: async_nats::Client,
    router: Router,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut sub = nats
        .queue_subscribe(subjects::LIVE_ALL, subjects::LIVE_QUEUE.to_string())
        .await?
        .ready_chunks(MAX_BATCH);
    loop {
        let batch = tokio::select! {
            _ = stop.cancelled() => break,
            b = sub.next() => b,
        };
        let Some(batch) = batch else { break };
        router.route_live(&batch).await;
    }
    Ok(())
}
