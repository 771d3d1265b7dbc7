//! Edge commands on `chat.presence.>`: a core queue subscription shared by presence instances.
//! Nothing is acked or redelivered; a lost heartbeat is replaced by the next one, and a lost
//! disconnect is covered by the TTL and the sweeper.

use std::sync::Arc;

use async_nats::{Message, Subscriber};
use futures::StreamExt;
use parley_contracts::events::PresenceCommand;
use parley_contracts::subjects;
use parley_kit::CancellationToken;
use parley_kit::metrics_names as m;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::Ctx;
use crate::emit::{self, Via};

const CONSUMER: &str = "presence";

/// Join the queue group. Done before the service subscribes, so that a worker answering
/// requests is known to receive commands too.
pub async fn subscribe(nats: &async_nats::Client) -> anyhow::Result<Subscriber> {
    Ok(nats
        .queue_subscribe(subjects::PRESENCE_ALL, subjects::PRESENCE_QUEUE.to_string())
        .await?)
}

/// Handle commands until `stop`, then drain the subscription (messages already sent to this
/// instance are still applied) and wait for in-flight work.
pub async fn run(
    ctx: Arc<Ctx>,
    mut sub: Subscriber,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let limit = Arc::new(Semaphore::new(ctx.concurrency));
    let mut tasks = JoinSet::new();
    let mut draining = false;
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled(), if !draining => {
                draining = true;
                if let Err(error) = sub.drain().await {
                    tracing::warn!(%error, "presence subscription drain failed");
                    break;
                }
                continue;
            }
            msg = sub.next() => msg,
        };
        let Some(msg) = msg else { break };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let _permit = permit;
            handle(&ctx, msg).await;
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn handle(ctx: &Ctx, msg: Message) {
    let Some(cmd) = decode(&msg) else {
        metrics::counter!(m::CONSUMER_ERRORS, "consumer" => CONSUMER, "stage" => "decode")
            .increment(1);
        tracing::debug!(subject = %msg.subject, "undecodable presence command skipped");
        return;
    };
    match ctx.store.apply(&cmd).await {
        Ok(outcome) => {
            if outcome.changed {
                emit::publish(ctx, &outcome, Via::Command).await;
            }
            metrics::counter!(m::CONSUMER_PROCESSED, "consumer" => CONSUMER).increment(1);
        }
        Err(error) => {
            metrics::counter!(m::CONSUMER_ERRORS, "consumer" => CONSUMER, "stage" => "handle")
                .increment(1);
            tracing::warn!(%error, user = %cmd.user_id, "presence command not applied");
        }
    }
}

/// The payload, accepted only when its user is the one the subject names: the subject is what
/// the edge authorised.
fn decode(msg: &Message) -> Option<PresenceCommand> {
    let cmd: PresenceCommand = serde_json::from_slice(&msg.payload).ok()?;
    (subjects::trailing_id(&msg.subject) == Some(cmd.user_id)).then_some(cmd)
}
