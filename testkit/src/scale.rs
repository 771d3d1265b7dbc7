//! Scale-out fixtures: extra instances of workers next to a [`Stack`], and the
//! full history of a conversation, to check "exactly once" after instances were killed.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::{Api, Proc, Stack, Worker};

/// Extra worker instances started beside a stack's own; each is `kill -9`ed on drop.
#[derive(Default)]
pub struct Replicas {
    procs: Vec<Proc>,
}

impl Replicas {
    /// `extra` more instances of each of `workers` (every worker may run as several
    /// instances against one NATS).
    pub fn start(stack: &Stack, workers: &[Worker], extra: usize) -> anyhow::Result<Self> {
        let mut procs = Vec::new();
        for _ in 0..extra {
            for w in workers {
                procs.push(stack.spawn_worker(*w)?);
            }
        }
        Ok(Self { procs })
    }

    /// How many extra instances of `worker` run.
    pub fn count(&self, worker: Worker) -> usize {
        self.procs
            .iter()
            .filter(|p| p.name == worker.binary())
            .count()
    }
}

impl Stack {
    /// `kill -9` the stack's own instance of `worker` (its replicas keep running); returns
    /// whether there was one to kill.
    pub fn kill9_worker(&mut self, worker: Worker) -> bool {
        match self.workers.remove(&worker) {
            Some(p) => {
                p.kill9();
                true
            }
            None => false,
        }
    }
}

/// Every stored message of `conv`, newest first, paging `GET /conversations/{id}/messages`.
pub async fn history(api: &Api, token: &str, conv: Uuid) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let q = before.map(|b| format!("&before={b}")).unwrap_or_default();
        let (status, page) = api
            .call(
                "GET",
                &format!("/conversations/{conv}/messages?limit=100{q}"),
                Some(token),
                None,
            )
            .await?;
        anyhow::ensure!(status == 200, "history: {status} {page}");
        all.extend(page["messages"].as_array().cloned().unwrap_or_default());
        if page["hasMore"] != true {
            return Ok(all);
        }
        before = page["nextCursor"].as_u64();
    }
}

/// Poll [`history`] until it holds at least `count` messages or `within` passed; returns the
/// last read either way (redelivery after a crash waits for the consumer's `ack_wait`).
pub async fn history_of_at_least(
    api: &Api,
    token: &str,
    conv: Uuid,
    count: usize,
    within: Duration,
) -> anyhow::Result<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let all = history(api, token, conv).await?;
        if all.len() >= count || tokio::time::Instant::now() > deadline {
            return Ok(all);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
