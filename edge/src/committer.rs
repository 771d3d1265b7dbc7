//! Group commit of client commands. Every accepted command must be in JetStream before the
//! client hears `accepted`, and with `sync_interval: always` each publish is an fsync. Commands
//! that arrive while one batch is being stored are stored together as the next atomic batch:
//! one fsync for all of them. A lone command goes out as a plain publish, so an idle edge adds
//! no latency; a busy one trades a little for a lot of throughput.

use std::future::Future;

use parley_kit::batch::{self, MAX_BATCH, Outgoing};
use tokio::sync::{mpsc, oneshot};

type Done = oneshot::Sender<Result<(), String>>;

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
    ) -> Result<impl Future<Output = Result<(), String>> + Send + 'static, String> {
        let (done, stored) = oneshot::channel();
        self.tx
            .send((msg, done))
            .await
            .map_err(|_| "the command committer stopped".to_string())?;
        Ok(async move {
            stored
                .await
                .unwrap_or_else(|_| Err("the command committer stopped".to_string()))
        })
    }
}

async fn run(
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    mut rx: mpsc::Receiver<(Outgoing, Done)>,
) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while let Some((msg, done)) = rx.recv().await {
        msgs.push(msg);
        waiting.push(done);
        while msgs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((msg, done)) => {
                    msgs.push(msg);
                    waiting.push(done);
                }
                Err(_) => break,
            }
        }
        metrics::histogram!(parley_kit::metrics_names::EDGE_COMMIT_BATCH).record(msgs.len() as f64);
        let result = batch::publish_batch(&nats, &js, &msgs).await;
        for done in waiting.drain(..) {
            let _ = done.send(result.clone());
        }
        msgs.clear();
    }
}
