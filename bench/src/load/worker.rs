//! `parley-bench worker` (spawned by `parley-bench load`, not run by hand): reads its
//! [`WorkerPlan`] from stdin, opens its connections at the planned rate, waits for `go`, runs
//! the open-loop schedule, then settles, syncs every device one last time and reports counts
//! and histograms on stdout.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::device::{Cmd, Device};
use super::wire::{Go, Report, WorkerPlan, WorkerResult};
use crate::hist::{coarse, encode, hist};

pub struct Sent {
    /// The scheduled send time (open loop: latency counts from when the message was due).
    pub at: Instant,
    pub sec: usize,
    pub conv: usize,
    pub acked: bool,
}

pub struct Hists {
    pub ack: Histogram<u64>,
    pub recv: Histogram<u64>,
    pub typing: Histogram<u64>,
    pub status: Histogram<u64>,
    pub connect: Histogram<u64>,
    pub resync: Histogram<u64>,
    ack_ps: Vec<Histogram<u64>>,
    recv_ps: Vec<Histogram<u64>>,
}

fn at(v: &mut Vec<Histogram<u64>>, sec: usize) -> &mut Histogram<u64> {
    // Bounded by the schedule's length (plus the settle time), so this cannot grow unchecked.
    let sec = sec.min(3600);
    while v.len() <= sec {
        v.push(coarse());
    }
    &mut v[sec]
}

impl Hists {
    pub fn ack_at(&mut self, sec: usize) -> &mut Histogram<u64> {
        at(&mut self.ack_ps, sec)
    }
    pub fn recv_at(&mut self, sec: usize) -> &mut Histogram<u64> {
        at(&mut self.recv_ps, sec)
    }
}

/// Where a device is, for the report on devices that did not finish in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Connecting = 0,
    Live = 1,
    Syncing = 2,
    FinalSync = 3,
    Done = 4,
}

impl Stage {
    fn name(v: u8) -> &'static str {
        match v {
            0 => "connecting",
            1 => "live",
            2 => "syncing",
            3 => "final_sync",
            _ => "done",
        }
    }
}

/// State every device task of this process shares.
pub struct Shared {
    pub ws_url: String,
    /// `http(s)://host:port`, for token refreshes.
    pub base_url: String,
    pub http: reqwest::Client,
    pub conv_ids: Vec<Uuid>,
    conv_index: HashMap<Uuid, usize>,
    user_index: HashMap<Uuid, usize>,
    pub read_share: f64,
    go: OnceLock<Instant>,
    pub sent: Mutex<HashMap<Uuid, Sent>>,
    pub hists: Mutex<Hists>,
    /// (conversation, typer) → when the start was written.
    pub typing_sent: Mutex<HashMap<(usize, usize), Instant>>,
    /// (conversation, reader) → (seq, when `message:read` was written).
    pub read_sent: Mutex<HashMap<(usize, usize), (u64, Instant)>>,
    errors: Mutex<BTreeMap<String, u64>>,
    pub online: Vec<AtomicBool>,
    pub connected: AtomicUsize,
    pub gave_up: AtomicUsize,
    pub sent_n: AtomicU64,
    pub acked: AtomicU64,
    pub received: AtomicU64,
    pub redelivered: AtomicU64,
    pub duplicated: AtomicU64,
    pub disconnects: AtomicU64,
    pub reconnects: AtomicU64,
    pub rejected: AtomicU64,
    pub resynced: AtomicUsize,
    pub typing_n: AtomicU64,
    pub resent: AtomicU64,
    pub reads_n: AtomicU64,
    pub delivered_n: AtomicU64,
    /// Turns true when every device is to sync one last time and close. A watch, not a
    /// command, so that telling a device that is offline (its queue full) blocks nobody.
    pub finish: watch::Sender<bool>,
    /// Each device's [`Stage`].
    stage: Vec<AtomicU8>,
}

impl Shared {
    pub fn go(&self) -> Instant {
        *self.go.get_or_init(Instant::now)
    }

    pub fn set_stage(&self, device: usize, stage: Stage) {
        if let Some(s) = self.stage.get(device) {
            s.store(stage as u8, Ordering::Relaxed);
        }
    }

    pub fn error(&self, code: &str) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(code.to_string()).or_default() += 1;
        }
    }

    pub fn conv_of(&self, v: &Value) -> Option<usize> {
        let id: Uuid = v.as_str()?.parse().ok()?;
        self.conv_index.get(&id).copied()
    }

    pub fn user_of(&self, v: &Value) -> Option<usize> {
        let id: Uuid = v.as_str()?.parse().ok()?;
        self.user_index.get(&id).copied()
    }
}

fn report(r: &Report) {
    // One JSON object per line; stdout belongs to the parent.
    if let Ok(line) = serde_json::to_string(r) {
        println!("{line}");
    }
}

/// The last seq of every conversation now, so checks only cover what this run sends.
async fn bases(plan: &WorkerPlan) -> anyhow::Result<Vec<u64>> {
    let http = reqwest::Client::new();
    let items: Vec<(Uuid, String)> = plan
        .conversations
        .iter()
        .map(|c| (c.id, plan.accounts[c.members[0]].1.clone()))
        .collect();
    let base = plan.base_url.clone();
    let label = format!("worker {} conversation seqs", plan.worker);
    crate::accounts::each(&label, items, 16, |(id, token)| {
        let http = http.clone();
        let url = format!("{base}/api/v1/conversations/{id}");
        async move {
            let v: Value = http
                .get(&url)
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            v["lastSeq"]
                .as_u64()
                .with_context(|| format!("GET {url}: {v}"))
        }
    })
    .await
}

/// Stdin lines from a plain thread (the parent writes two lines, far apart), so the bench needs
/// no extra tokio feature — which would make workspace builds compile tokio a second way.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub async fn run() -> anyhow::Result<()> {
    let mut stdin = stdin_lines();
    let line = stdin.recv().await.context("no plan on stdin")?;
    let plan: WorkerPlan = serde_json::from_str(&line).context("plan")?;
    let n = plan.accounts.len();
    let bases = bases(&plan).await?;

    let sh = Arc::new(Shared {
        ws_url: format!("{}/ws", plan.base_url.replacen("http", "ws", 1)),
        base_url: plan.base_url.clone(),
        http: reqwest::Client::new(),
        conv_ids: plan.conversations.iter().map(|c| c.id).collect(),
        conv_index: plan
            .conversations
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect(),
        user_index: plan
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.0, i))
            .collect(),
        read_share: plan.read_share.clamp(0.0, 1.0),
        go: OnceLock::new(),
        sent: Mutex::default(),
        hists: Mutex::new(Hists {
            ack: hist(),
            recv: hist(),
            typing: hist(),
            status: hist(),
            connect: hist(),
            resync: hist(),
            ack_ps: Vec::new(),
            recv_ps: Vec::new(),
        }),
        typing_sent: Mutex::default(),
        read_sent: Mutex::default(),
        errors: Mutex::default(),
        online: (0..n).map(|_| AtomicBool::new(false)).collect(),
        connected: AtomicUsize::new(0),
        gave_up: AtomicUsize::new(0),
        sent_n: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        received: AtomicU64::new(0),
        redelivered: AtomicU64::new(0),
        duplicated: AtomicU64::new(0),
        disconnects: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        resynced: AtomicUsize::new(0),
        typing_n: AtomicU64::new(0),
        resent: AtomicU64::new(0),
        reads_n: AtomicU64::new(0),
        delivered_n: AtomicU64::new(0),
        finish: watch::Sender::new(false),
        stage: (0..n)
            .map(|_| AtomicU8::new(Stage::Connecting as u8))
            .collect(),
    });

    // Conversations of each device (with their base seqs), and one conversation to type in.
    let mut convs_of: Vec<Vec<(usize, u64)>> = vec![Vec::new(); n];
    for (c, conv) in plan.conversations.iter().enumerate() {
        for &m in &conv.members {
            convs_of[m].push((c, bases[c]));
        }
    }

    // Ramp: open connections at the planned rate; each device backs off on 503 by itself.
    let mut txs = Vec::with_capacity(n);
    let mut devices = JoinSet::new();
    let ramp_start = Instant::now();
    let step = Duration::from_secs_f64(1.0 / plan.connect_rate.max(1.0));
    for (i, (_, token, refresh)) in plan.accounts.iter().enumerate() {
        tokio::time::sleep_until((ramp_start + step * i as u32).into()).await;
        let (tx, rx) = mpsc::channel(256);
        txs.push(tx);
        let dev = Device::new(
            sh.clone(),
            i,
            (token.clone(), refresh.clone()),
            &convs_of[i],
        );
        devices.spawn(async move { (i, dev.run(rx).await) });
    }
    let ramp_deadline = Instant::now() + Duration::from_secs(120 + n as u64 / 50);
    while sh.connected.load(Ordering::Relaxed) + sh.gave_up.load(Ordering::Relaxed) < n
        && Instant::now() < ramp_deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report(&Report::Ready {
        connected: sh.connected.load(Ordering::Relaxed),
        failed: n - sh.connected.load(Ordering::Relaxed),
    });

    let line = stdin.recv().await.context("no go on stdin")?;
    let go: Go = serde_json::from_str(&line).context("go line")?;
    anyhow::ensure!(go.go, "told not to go");
    let go = sh.go();
    let total_secs: u64 = plan.phases.iter().map(|p| p.secs).sum();
    let end = go + Duration::from_secs(total_secs);

    let mut side = JoinSet::new();
    // Progress for the parent, every 5 s until the schedule ends.
    {
        let sh = sh.clone();
        side.spawn(async move {
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_secs(5)).await;
                report(&Report::Progress {
                    sent: sh.sent_n.load(Ordering::Relaxed),
                    acked: sh.acked.load(Ordering::Relaxed),
                    received: sh.received.load(Ordering::Relaxed),
                    connected: sh.connected.load(Ordering::Relaxed),
                });
            }
        });
    }
    // Typing, on its own clock; a user types again only after the edge's 1 s throttle.
    if plan.typing_rate > 0.0 {
        let sh = sh.clone();
        let txs = txs.clone();
        let first_conv: Vec<Option<usize>> =
            convs_of.iter().map(|c| c.first().map(|x| x.0)).collect();
        let every = Duration::from_secs_f64(1.0 / plan.typing_rate);
        side.spawn(async move {
            let mut last: HashMap<usize, Instant> = HashMap::new();
            let mut k = 0u32;
            loop {
                let t = go + every * k;
                k += 1;
                if t >= end {
                    break;
                }
                tokio::time::sleep_until(t.into()).await;
                let i = rand::random_range(0..txs.len());
                let recent = last
                    .get(&i)
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(1100));
                if recent || !sh.online[i].load(Ordering::Relaxed) {
                    continue;
                }
                if let Some(conv) = first_conv[i] {
                    last.insert(i, Instant::now());
                    let _ = txs[i].try_send(Cmd::Typing(conv));
                }
            }
        });
    }
    // The reconnect storm: every client drops at once and comes back after a jittered delay.
    let storm_at = plan.storm.map(|s| go + Duration::from_secs_f64(s.at_secs));
    let storm_done: Arc<Mutex<Option<Instant>>> = Arc::default();
    if let Some(storm) = plan.storm {
        let sh = sh.clone();
        let txs = txs.clone();
        let done = storm_done.clone();
        side.spawn(async move {
            tokio::time::sleep_until((go + Duration::from_secs_f64(storm.at_secs)).into()).await;
            sh.resynced.store(0, Ordering::Relaxed);
            for tx in &txs {
                let jitter = Duration::from_millis(rand::random_range(0..=storm.jitter_ms));
                let _ = tx.send(Cmd::Drop(jitter)).await;
            }
            let limit = Instant::now() + Duration::from_secs(300);
            while sh.resynced.load(Ordering::Relaxed) < txs.len() && Instant::now() < limit {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Ok(mut d) = done.lock() {
                *d = Some(Instant::now());
            }
        });
    }

    // The open-loop schedule: message k of a phase is due at phase start + k / rate.
    let mut scheduled = 0u64;
    let mut skipped = 0u64;
    let mut full = 0u64;
    let mut phase_start = go;
    for phase in &plan.phases {
        let count = (phase.rate * phase.secs as f64).round() as u64;
        let every = Duration::from_secs_f64(1.0 / phase.rate.max(1e-9));
        for k in 0..count {
            let due = phase_start + every.mul_f64(k as f64);
            tokio::time::sleep_until(due.into()).await;
            scheduled += 1;
            let c = rand::random_range(0..plan.conversations.len());
            let members = &plan.conversations[c].members;
            let sender = members[rand::random_range(0..members.len())];
            if !sh.online[sender].load(Ordering::Relaxed) {
                skipped += 1;
                continue;
            }
            let cmd = Cmd::Send {
                id: Uuid::now_v7(),
                conv: c,
                at: due,
            };
            if txs[sender].try_send(cmd).is_err() {
                full += 1;
            }
        }
        phase_start += Duration::from_secs(phase.secs);
    }
    if full > 0
        && let Ok(mut e) = sh.errors.lock()
    {
        e.insert("client_queue_full".into(), full);
    }
    while side.join_next().await.is_some() {}

    // Settle: wait until every send is acked, live deliveries stop arriving and (if asked)
    // the servers' consumers have caught up.
    let settle_deadline = Instant::now() + Duration::from_secs(plan.settle_secs);
    let mut last = (u64::MAX, Instant::now());
    let http = reqwest::Client::new();
    while Instant::now() < settle_deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let received = sh.received.load(Ordering::Relaxed);
        let all_acked = sh.acked.load(Ordering::Relaxed) >= sh.sent_n.load(Ordering::Relaxed);
        if received != last.0 {
            last = (received, Instant::now());
        } else if all_acked && last.1.elapsed() > Duration::from_secs(2) {
            let mut lag = 0.0;
            for u in &plan.quiesce {
                lag += crate::scrape::fetch(&http, u)
                    .await
                    .iter()
                    .filter(|(k, _)| k.starts_with("parley_consumer_lag"))
                    .map(|(_, v)| v)
                    .sum::<f64>();
            }
            if lag == 0.0 {
                break;
            }
        }
    }
    sh.finish.send_replace(true);
    drop(txs);
    let mut views: Vec<Option<Device>> = (0..n).map(|_| None).collect();
    // Every device syncs once more (the edge runs a bounded number at once); 10,000 of them
    // take a while.
    let finish_deadline = Instant::now() + Duration::from_secs(600);
    while let Ok(Some(joined)) =
        tokio::time::timeout_at(finish_deadline.into(), devices.join_next()).await
    {
        if let Ok((i, dev)) = joined {
            views[i] = Some(dev);
        }
    }
    devices.abort_all();

    let mut r = WorkerResult {
        scheduled,
        skipped_offline: skipped,
        sent: sh.sent_n.load(Ordering::Relaxed),
        redelivered: sh.redelivered.load(Ordering::Relaxed),
        duplicated: sh.duplicated.load(Ordering::Relaxed),
        disconnects: sh.disconnects.load(Ordering::Relaxed),
        reconnects: sh.reconnects.load(Ordering::Relaxed),
        rejected_503: sh.rejected.load(Ordering::Relaxed),
        typing_sent: sh.typing_n.load(Ordering::Relaxed),
        resent: sh.resent.load(Ordering::Relaxed),
        reads_sent: sh.reads_n.load(Ordering::Relaxed),
        delivered_sent: sh.delivered_n.load(Ordering::Relaxed),
        ..Default::default()
    };
    if let (Some(at), Ok(done)) = (storm_at, storm_done.lock())
        && let Some(done) = *done
    {
        r.storm_recovery_ms = Some(done.saturating_duration_since(at).as_millis() as u64);
    }
    // Devices that did not hand back their view in time, by where they were stuck.
    for (i, v) in views.iter().enumerate() {
        if v.is_none() {
            let stage = sh.stage[i].load(Ordering::Relaxed);
            sh.error(&format!("device_unfinished_{}", Stage::name(stage)));
        }
    }
    // Loss: every acked message must be on every member device (its sender's too).
    let sent = std::mem::take(&mut *sh.sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    for (id, s) in &sent {
        let members = &plan.conversations[s.conv].members;
        let seen: Vec<Option<bool>> = members
            .iter()
            .map(|&m| {
                views[m]
                    .as_ref()
                    .and_then(|d| d.views.get(&s.conv))
                    .and_then(|v| v.ids.get(id))
                    .map(|&(_, live)| live)
            })
            .collect();
        if s.acked {
            r.acked += 1;
            for got in seen {
                r.expected += 1;
                match got {
                    Some(true) => r.received_live += 1,
                    Some(false) => r.recovered_by_sync += 1,
                    None => r.lost += 1,
                }
            }
        } else {
            r.unacked += 1;
            if seen.iter().any(Option::is_some) {
                r.unacked_but_stored += 1;
            }
        }
    }
    r.gaps = views
        .iter()
        .flatten()
        .flat_map(|d| d.views.values())
        .filter(|v| v.has_gap())
        .count() as u64;
    r.errors = sh.errors.lock().map(|e| e.clone()).unwrap_or_default();
    let h = sh.hists.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for (name, hist) in [
        ("send_ack", &h.ack),
        ("send_receive", &h.recv),
        ("typing_shown", &h.typing),
        ("read_status_shown", &h.status),
        ("connect", &h.connect),
        ("reconnect_synced", &h.resync),
    ] {
        r.hists.insert(name.into(), encode(hist)?);
    }
    for (name, v) in [("send_ack", &h.ack_ps), ("send_receive", &h.recv_ps)] {
        r.per_second
            .insert(name.into(), v.iter().map(encode).collect::<Result<_, _>>()?);
    }
    report(&Report::Done(Box::new(r)));
    Ok(())
}
