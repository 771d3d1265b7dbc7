//! The sweeper: users whose earliest connection expiry has passed are recomputed, so a crashed
//! edge's users go offline within their TTL plus one sweep interval. Every instance sweeps;
//! `apply.lua` reports each transition to one of them only.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parley_kit::CancellationToken;
use parley_kit::metrics_names as m;

use crate::Ctx;
use crate::emit::{self, Via};

pub async fn run(ctx: Arc<Ctx>, every: Duration, batch: usize, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Keep taking batches while they come back full, so a backlog (many edges gone at
        // once) clears in one tick; stop between batches on shutdown.
        while !stop.is_cancelled() {
            match sweep_once(&ctx, batch).await {
                Ok(n) if n == batch => continue,
                Ok(_) => break,
                Err(error) => {
                    metrics::counter!(m::CONSUMER_ERRORS, "consumer" => "presence", "stage" => "sweep")
                        .increment(1);
                    tracing::warn!(%error, "presence sweep failed");
                    break;
                }
            }
        }
    }
}

/// One batch: returns how many users were due.
async fn sweep_once(ctx: &Ctx, batch: usize) -> Result<usize, crate::store::StoreError> {
    let users = ctx.store.due(batch).await?;
    let n = users.len();
    futures::stream::iter(users)
        .for_each_concurrent(ctx.concurrency, |user| async move {
            match ctx.store.sweep(user).await {
                Ok(outcome) if outcome.changed => {
                    emit::publish(ctx, &outcome, Via::Sweep).await;
                }
                Ok(_) => {}
                Err(error) => {
                    metrics::counter!(m::CONSUMER_ERRORS, "consumer" => "presence", "stage" => "sweep")
                        .increment(1);
                    tracing::warn!(%error, %user, "presence sweep of user failed");
                }
            }
        })
        .await;
    Ok(n)
}
