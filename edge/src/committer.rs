//! Group commit of client commands. Every accepted command must be in JetStream before the
//! client hears `accepted`, and with `sync_interval: always` each publish is an fsync. Commands
//! go out the moment they arrive while few writes are pending; once [`IN_FLIGHT`] groups wait
//! for the server, the commands that queue meanwhile go out together as the next group
//! (`parley_kit::batch::send_batch`: pipelined, or one atomic batch and one fsync once the group
//! is large). So an idle edge adds no latency and a saturated one trades a little for a lot of
//! throughput.

use std::future::Future;

use futures::StreamExt;
use parley_kit::batch::{self, Done, MAX_BATCH, Outgoing, PublishError};
use tokio::sync::{mpsc, oneshot};

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<(Outgoing, Done)>,
}

impl Committer {
    /// The committing task ends when every `Committer` clone is dropped.
    pub fn start(nats: async_nats::Client, js: async_nats::jetstream::Context) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(nats, js, rx));
        Self { tx }
    }

    /// Queue a message; the returned future resolves once it is stored (or failed to be).
    pub async fn publish(
        &self,
        msg: Outgoing,
    ) -> Result<impl Future<Output = Result<(), PublishError>> + Send + 'static, PublishError> {
        let (done, stored) = oneshot::channel();
        self.tx
            .send((msg, done))
            .await
            .map_err(|_| PublishError::WriterStopped)?;
        Ok(async move { stored.await.unwrap_or(Err(PublishError::WriterStopped)) })
    }
}

/// Groups sent and not yet stored, at most. Below it a command is sent the moment it arrives
/// (the server stores pipelined publishes in order, one fsync each); at it, commands queue and
/// the next group is large enough to go out as one atomic batch with one fsync.
const IN_FLIGHT: usize = 4;

async fn run(
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    mut rx: mpsc::Receiver<(Outgoing, Done)>,
) {
    let mut in_flight = futures::stream::FuturesOrdered::new();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            biased;
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            first = rx.recv(), if open && in_flight.len() < IN_FLIGHT => {
                let Some((msg, done)) = first else {
                    open = false;
                    continue;
                };
                let mut msgs = vec![msg];
                let mut waiting = vec![done];
                while msgs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok((msg, done)) => {
                            msgs.push(msg);
                            waiting.push(done);
                        }
                        Err(_) => break,
                    }
                }
                metrics::histogram!(parley_kit::metrics_names::EDGE_COMMIT_BATCH)
                    .record(msgs.len() as f64);
                in_flight.push_back(batch::send_for(&nats, &js, &msgs, waiting).await);
            }
        }
    }
}
