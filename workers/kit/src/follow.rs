//! Follow a core NATS subject for cache invalidation: every instance hears every message (no
//! queue group), until `stop`.

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

pub async fn follow(
    nats: &async_nats::Client,
    subject: &'static str,
    stop: CancellationToken,
    on_message: impl Fn(async_nats::Message) + Send + 'static,
) -> anyhow::Result<()> {
    let mut sub = nats.subscribe(subject).await?;
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => break,
                m = sub.next() => m,
            };
            let Some(msg) = msg else { break };
            on_message(msg);
        }
    });
    Ok(())
}
