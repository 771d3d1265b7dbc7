//! Crash recovery of persist under steady sending: what a killed instance held is stored within
//! seconds of its replacement (or the surviving instance) taking over, and no sender's order
//! breaks — a message acked before its sender sent the next one has the lower seq.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use parley_testkit::Worker::{Delivery, Directory, Persist};
use parley_testkit::{Api, Proc, Session, Stack, Ws, history};
use uuid::Uuid;

/// The target: a killed instance's in-flight work resumes within this of the takeover.
const RECOVERY: Duration = Duration::from_secs(3);

/// Send one message after another, each only once the previous one is acked, until `stop`;
/// returns the acked ids in send order.
async fn keep_sending(
    mut ws: Ws,
    conv: Uuid,
    who: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Uuid>> {
    let mut acked = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let id = ws
            .send_message(conv, &format!("{who} #{}", acked.len()))
            .await?;
        let want = id.to_string();
        loop {
            let v = ws
                .recv(Duration::from_secs(10))
                .await?
                .context("socket closed")?;
            if v["ref"] != want.as_str() {
                continue; // events of the conversation
            }
            match v["type"].as_str() {
                Some("ack") => break,
                _ => bail!("send refused: {v}"),
            }
        }
        acked.push(id);
        // About 100 messages a second per sender: a steady load, not a flood of the machine.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(acked)
}

/// Four senders in two conversations (three in a group, one in a direct chat).
struct Senders {
    stop: Arc<AtomicBool>,
    tasks: Vec<(Uuid, tokio::task::JoinHandle<anyhow::Result<Vec<Uuid>>>)>,
    /// Each conversation with a member who reads it.
    convs: Vec<(Uuid, Session)>,
}

impl Senders {
    async fn start(stack: &Stack) -> anyhow::Result<Self> {
        let api = stack.api();
        let people: Vec<Session> = {
            let mut v = Vec::new();
            for name in ["alice", "bob", "carol", "dave", "erin"] {
                v.push(api.register(name).await?);
            }
            v
        };
        let group = api
            .conversation(
                &people[0],
                "group",
                &[&people[1], &people[2]],
                Some("recovery"),
            )
            .await?;
        let direct = api
            .conversation(&people[3], "direct", &[&people[4]], None)
            .await?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (i, conv) in [(0, group), (1, group), (2, group), (3, direct)] {
            let ws = Ws::connect(&stack.edge_url(0), &people[i].token).await?;
            let who = format!("sender{i}");
            tasks.push((
                conv,
                tokio::spawn(keep_sending(ws, conv, who, stop.clone())),
            ));
        }
        Ok(Self {
            stop,
            tasks,
            convs: vec![(group, people[0].clone()), (direct, people[3].clone())],
        })
    }

    /// Stop sending; each sender's acked ids, in send order, with its conversation.
    async fn finish(self) -> anyhow::Result<(Vec<(Uuid, Vec<Uuid>)>, Vec<(Uuid, Session)>)> {
        self.stop.store(true, Ordering::SeqCst);
        let mut out = Vec::new();
        for (conv, task) in self.tasks {
            out.push((conv, task.await??));
        }
        Ok((out, self.convs))
    }
}

/// Each conversation's stored messages, id → seq, polled until every acked id is there or
/// `within` passed; returns them and when the last one was found.
async fn stored_by(
    api: &Api,
    convs: &[(Uuid, Session)],
    acked: &[(Uuid, Vec<Uuid>)],
    within: Duration,
) -> anyhow::Result<(HashMap<Uuid, u64>, Instant)> {
    let deadline = Instant::now() + within;
    loop {
        let mut seqs = HashMap::new();
        for (conv, reader) in convs {
            let all = history(api, &reader.token, *conv).await?;
            let mut got: Vec<u64> = Vec::new();
            for m in &all {
                let id: Uuid = m["id"].as_str().context("id")?.parse()?;
                let seq = m["seq"].as_u64().context("seq")?;
                ensure!(seqs.insert(id, seq).is_none(), "{id} stored twice");
                got.push(seq);
            }
            got.sort();
            ensure!(
                got == (1..=got.len() as u64).collect::<Vec<_>>(),
                "seqs of {conv} contiguous"
            );
        }
        let missing = acked
            .iter()
            .flat_map(|(_, ids)| ids)
            .filter(|id| !seqs.contains_key(id))
            .count();
        if missing == 0 {
            return Ok((seqs, Instant::now()));
        }
        if Instant::now() > deadline {
            bail!("{missing} acked messages not stored within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// For every sender: a message acked before the next was sent has the lower seq.
fn senders_order_kept(
    acked: &[(Uuid, Vec<Uuid>)],
    seqs: &HashMap<Uuid, u64>,
) -> anyhow::Result<()> {
    for (conv, ids) in acked {
        let order: Vec<u64> = ids.iter().map(|id| seqs[id]).collect();
        let inverted: Vec<&[u64]> = order.windows(2).filter(|w| w[0] > w[1]).collect();
        ensure!(
            inverted.is_empty(),
            "{} messages of one sender in {conv} have a lower seq than the one it sent just \
             before ({} sent; first: seq {} after {})",
            inverted.len(),
            order.len(),
            inverted[0][1],
            inverted[0][0],
        );
    }
    Ok(())
}

/// Freeze `proc` (so what it holds stays in flight, unacked), let the senders go on, then
/// `kill -9` it.
async fn freeze_then_kill(proc: Proc) -> anyhow::Result<()> {
    let pid = proc.pid().to_string();
    let status = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()?;
    ensure!(status.success(), "kill -STOP");
    tokio::time::sleep(Duration::from_millis(400)).await;
    proc.kill9();
    Ok(())
}

/// The persist instance that is pulling: the one whose consumer has received messages.
async fn received(proc: &Proc) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("http://{}/metrics", proc.addrs["ops"]))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("parley_consumer_received_total{consumer=\"persist\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_persist_resumes_within_seconds_in_every_senders_order() -> anyhow::Result<()> {
    let mut stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let senders = Senders::start(&stack).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let persist = stack.workers.remove(&Persist).context("persist runs")?;
    freeze_then_kill(persist).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted_persist = stack.spawn_worker(Persist)?;
    stack.workers.insert(Persist, restarted_persist);
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (acked, convs) = senders.finish().await?;
    let sent: usize = acked.iter().map(|(_, ids)| ids.len()).sum();
    ensure!(sent > 40, "the senders kept sending ({sent} acked)");
    // Wait long enough to see the order even where recovery is slow, then judge both.
    let (seqs, all_stored) =
        stored_by(&stack.api(), &convs, &acked, Duration::from_secs(45)).await?;
    senders_order_kept(&acked, &seqs)?;
    let took = all_stored.saturating_duration_since(restarted);
    ensure!(
        took <= RECOVERY,
        "every acked message stored {took:?} after the restart (target {RECOVERY:?})"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_persists_the_survivor_takes_over_within_seconds_in_order() -> anyhow::Result<()> {
    let mut stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let second = stack.spawn_worker(Persist)?;
    let senders = Senders::start(&stack).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first = stack.workers.remove(&Persist).context("persist runs")?;
    // Kill the one that is pulling (both may be, with every instance pulling at once).
    let (victim, survivor) = if received(&first).await? >= received(&second).await? {
        (first, second)
    } else {
        (second, first)
    };
    freeze_then_kill(victim).await?;
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (acked, convs) = senders.finish().await?;
    let sent: usize = acked.iter().map(|(_, ids)| ids.len()).sum();
    ensure!(sent > 40, "the senders kept sending ({sent} acked)");
    let (seqs, all_stored) =
        stored_by(&stack.api(), &convs, &acked, Duration::from_secs(45)).await?;
    senders_order_kept(&acked, &seqs)?;
    let took = all_stored.saturating_duration_since(killed);
    ensure!(
        took <= RECOVERY,
        "every acked message stored {took:?} after the kill (target {RECOVERY:?})"
    );
    stack.workers.insert(Persist, survivor);
    Ok(())
}

/// A send whose PubAck the edge never saw (NATS died mid-publish) but that JetStream stored:
/// the client, told `unavailable`, retries with the same id and gets `accepted`, and the
/// message keeps the place of its stored copy — stored once, before what was sent after.
#[tokio::test]
async fn a_retried_send_whose_first_copy_was_stored_keeps_its_place() -> anyhow::Result<()> {
    use parley_contracts::events::{MessageAction, MessageCommand};
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let acked = |id: Uuid| {
        let id = id.to_string();
        move |v: &serde_json::Value| v["ref"] == id.as_str()
    };
    let b1 = b.send_message(conv, "b1").await?;
    ensure!(b.recv_until(acked(b1)).await?["type"] == "ack");
    // Alice's first attempt, as the edge publishes it; its PubAck is lost on the way back.
    let x = Uuid::now_v7();
    let cmd = MessageCommand {
        v: parley_contracts::SCHEMA_VERSION,
        id: x,
        conversation_id: conv,
        sender_id: alice.id,
        accepted_at: chrono::Utc::now(),
        action: MessageAction::Send {
            body: "x".into(),
            reply_to: None,
            mentions: Vec::new(),
            forward_from: None,
        },
    };
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", x.to_string().as_str());
    js.publish_with_headers(
        parley_contracts::subjects::cmd_msg(conv),
        headers,
        serde_json::to_vec(&cmd)?.into(),
    )
    .await?
    .await?;
    let b2 = b.send_message(conv, "b2").await?;
    ensure!(b.recv_until(acked(b2)).await?["type"] == "ack");
    // The retry, same id and body: accepted.
    a.send(
        serde_json::json!({"type": "message:send", "id": x, "conversationId": conv, "body": "x"}),
    )
    .await?;
    let v = a.recv_until(acked(x)).await?;
    ensure!(v["type"] == "ack" && v["status"] == "accepted", "{v}");
    let a2 = a.send_message(conv, "a2").await?;
    ensure!(a.recv_until(acked(a2)).await?["type"] == "ack");
    let want: Vec<(u64, String)> = [(1, b1), (2, x), (3, b2), (4, a2)]
        .into_iter()
        .map(|(s, id)| (s, id.to_string()))
        .collect();
    let deadline = Instant::now() + parley_testkit::TIMEOUT;
    loop {
        let mut stored: Vec<(u64, String)> = history(&api, &bob.token, conv)
            .await?
            .iter()
            .filter_map(|m| Some((m["seq"].as_u64()?, m["id"].as_str()?.to_string())))
            .collect();
        stored.sort();
        if stored == want {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "stored {stored:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
