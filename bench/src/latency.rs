//! `parley-bench latency` (also what runs when no subcommand is given): N users connected over
//! WebSocket, paired in direct conversations, send R messages per second in total (open loop:
//! sends follow the clock, not the replies) for D seconds. Prints percentiles of send→ack and
//! send→receive, plus the same run's raw NATS request/reply latency as a floor, and writes the
//! run as JSON with two plots (percentile curves; send→receive p50/p99 per second) under
//! `--results-dir`. Talks to a running Parley (see bench/RESULTS.md).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parley_contracts::subjects::BENCH_ECHO;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::hist::{Summary, hist};
use crate::report;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Edge base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// NATS URL for the raw request/reply baseline.
    #[arg(long, default_value = "nats://127.0.0.1:4250")]
    nats_url: String,
    /// NKey seed of the benchmark's NATS user (`parley-bench.nk` from `parley-jetstream auth
    /// keys`; `run.sh` keeps them in `.parley/nats-keys/`).
    #[arg(long, env = "PARLEY_NATS_CREDS")]
    nats_creds: Option<std::path::PathBuf>,
    /// Connected users (an even number; paired into direct conversations).
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Typing starts per second, all users together (the edge passes one per second per user
    /// and conversation; the generator never asks more often than that).
    #[arg(long, default_value_t = 100)]
    typing_rate: u64,
    /// Every k-th received message is marked read by its receiver (0 = no reads).
    #[arg(long, default_value_t = 10)]
    read_every: u64,
    /// Parallel registrations during set-up.
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
    /// Seconds between the last socket opening and the first send, so the run measures the
    /// steady state rather than the tail of the connect burst (presence of 1,000 users coming
    /// online at once; `parley-bench load --scenario storm` measures reconnects).
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// Where the run's JSON and plots go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
}

/// What a socket's writer sends.
enum Out {
    Send(Uuid, Uuid),
    Typing(Uuid),
    /// conversation, seq
    Read(Uuid, u64),
}

struct Stats {
    ack: Mutex<Histogram<u64>>,
    recv: Mutex<Histogram<u64>>,
    /// send→stored and stored→receive: the message's `createdAt` (persist's clock when it
    /// took the command's batch) splits send→receive in two, on the same machine's clock.
    to_stored: Mutex<Histogram<u64>>,
    from_stored: Mutex<Histogram<u64>>,
    /// send→receive since the last progress line: shows whether the tail is spread or bunched.
    recv_window: Mutex<Histogram<u64>>,
    /// send→receive by the second of the run in which the message was sent (for the plot); one
    /// histogram per second of the schedule, so stragglers sent after it are not counted.
    recv_by_second: std::sync::Mutex<Vec<Histogram<u64>>>,
    /// Wall-clock microseconds when sending began (0 before).
    run_start_unix: AtomicU64,
    typing: Mutex<Histogram<u64>>,
    status: Mutex<Histogram<u64>>,
    /// (conversation, typer) → when the start was sent.
    typing_sent: std::sync::Mutex<HashMap<(Uuid, Uuid), Instant>>,
    /// (conversation, reader) → (seq, when `message:read` was sent).
    read_sent: std::sync::Mutex<HashMap<(Uuid, Uuid), (u64, Instant)>>,
    acks: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
}

/// Wall-clock microseconds: comparable with the server's `createdAt` on the same machine.
fn unix_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

fn print(name: &str, h: &Histogram<u64>) {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name:<22} n={:<8} p50={:>7.2}ms p90={:>7.2}ms p99={:>7.2}ms p99.9={:>7.2}ms max={:>7.2}ms",
        h.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0
    );
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.users < 2 || !args.users.is_multiple_of(2) {
        bail!("--users must be an even number ≥ 2");
    }
    let http = reqwest::Client::new();
    let base = args.url.trim_end_matches('/').to_string();
    let run = &Uuid::now_v7().simple().to_string()[20..];

    // Set-up: register users (bounded parallelism), pair them, open sockets.
    eprintln!("[setup] registering {} users…", args.users);
    let started = Instant::now();
    let tokens: Vec<(Uuid, String)> = futures::stream::iter(0..args.users)
        .map(|i| {
            let http = http.clone();
            let base = base.clone();
            let name = format!("b{run}_{i}");
            async move {
                let r: Value = http
                    .post(format!("{base}/api/v1/auth/register"))
                    .json(&json!({"username": name, "password": "benchmark-password"}))
                    .send()
                    .await?
                    .json()
                    .await?;
                let id: Uuid = r["user"]["id"]
                    .as_str()
                    .context("register failed")?
                    .parse()?;
                anyhow::Ok((
                    id,
                    r["accessToken"].as_str().unwrap_or_default().to_string(),
                ))
            }
        })
        .buffered(args.setup_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    eprintln!(
        "[setup] registered in {:.1}s; creating {} conversations…",
        started.elapsed().as_secs_f64(),
        args.users / 2
    );
    let mut convs = Vec::new();
    for pair in tokens.chunks(2) {
        let r: Value = http
            .post(format!("{base}/api/v1/conversations"))
            .bearer_auth(&pair[0].1)
            .json(&json!({"type": "direct", "memberIds": [pair[1].0]}))
            .send()
            .await?
            .json()
            .await?;
        convs.push(
            r["id"]
                .as_str()
                .context("create conversation")?
                .parse::<Uuid>()?,
        );
    }

    let stats = Arc::new(Stats {
        ack: Mutex::new(hist()),
        recv: Mutex::new(hist()),
        to_stored: Mutex::new(hist()),
        from_stored: Mutex::new(hist()),
        recv_window: Mutex::new(crate::hist::coarse()),
        recv_by_second: std::sync::Mutex::new(
            (0..args.seconds).map(|_| crate::hist::coarse()).collect(),
        ),
        run_start_unix: AtomicU64::new(0),
        typing: Mutex::new(hist()),
        status: Mutex::new(hist()),
        typing_sent: Default::default(),
        read_sent: Default::default(),
        acks: AtomicU64::new(0),
        received: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut senders = Vec::new();
    eprintln!("[setup] connecting {} sockets…", args.users);
    for (i, (_, token)) in tokens.iter().enumerate() {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(&ws_url, None, true).await?;
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::Text(
            json!({"type": "auth", "token": token}).to_string().into(),
        ))
        .await?;
        let (tx, mut rx) = mpsc::channel::<Out>(1024);
        let stats = stats.clone();
        let pending: Arc<std::sync::Mutex<HashMap<Uuid, Instant>>> = Arc::default();
        let p2 = pending.clone();
        let me = tokens[i].0;
        let st = stats.clone();
        tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                let frame = match out {
                    Out::Send(id, conv) => {
                        let t = unix_micros();
                        if let Ok(mut p) = p2.lock() {
                            p.insert(id, Instant::now());
                        }
                        json!({"type": "message:send", "id": id, "conversationId": conv, "body": format!("t={t}")})
                    }
                    Out::Typing(conv) => {
                        if let Ok(mut t) = st.typing_sent.lock() {
                            t.insert((conv, me), Instant::now());
                        }
                        json!({"type": "typing:start", "conversationId": conv})
                    }
                    Out::Read(conv, seq) => {
                        if let Ok(mut r) = st.read_sent.lock() {
                            r.insert((conv, me), (seq, Instant::now()));
                        }
                        json!({"type": "message:read", "conversationId": conv, "seq": seq})
                    }
                };
                if sink
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let reads = tx.clone();
        let read_every = args.read_every;
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(t) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                match v["type"].as_str() {
                    Some("ack") => {
                        let id = v["ref"].as_str().and_then(|s| s.parse::<Uuid>().ok());
                        let sent =
                            id.and_then(|id| pending.lock().ok().and_then(|mut p| p.remove(&id)));
                        if let Some(sent) = sent {
                            let _ = stats
                                .ack
                                .lock()
                                .await
                                .record(sent.elapsed().as_micros() as u64);
                            stats.acks.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some("message:new") if v["message"]["senderId"] != me.to_string() => {
                        let t = v["message"]["body"]
                            .as_str()
                            .and_then(|b| b.strip_prefix("t="))
                            .and_then(|s| s.parse::<u128>().ok());
                        if let Some(t) = t {
                            let now = unix_micros();
                            let lat = now.saturating_sub(t) as u64;
                            let stored = v["message"]["createdAt"]
                                .as_str()
                                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                                .and_then(|c| u128::try_from(c.timestamp_micros()).ok());
                            if let Some(stored) = stored {
                                let _ = stats
                                    .to_stored
                                    .lock()
                                    .await
                                    .record((stored.saturating_sub(t) as u64).max(1));
                                let _ = stats
                                    .from_stored
                                    .lock()
                                    .await
                                    .record((now.saturating_sub(stored) as u64).max(1));
                            }
                            let _ = stats.recv.lock().await.record(lat.max(1));
                            let _ = stats.recv_window.lock().await.record(lat.max(1));
                            stats.record_by_second(t, lat.max(1));
                            let n = stats.received.fetch_add(1, Ordering::Relaxed);
                            let conv = v["message"]["conversationId"]
                                .as_str()
                                .and_then(|c| c.parse().ok());
                            if let (Some(conv), Some(seq)) = (conv, v["message"]["seq"].as_u64())
                                && read_every > 0
                                && n.is_multiple_of(read_every)
                            {
                                let _ = reads.try_send(Out::Read(conv, seq));
                            }
                        }
                    }
                    Some("typing") if v["state"] == "start" => {
                        let key = (
                            v["conversationId"]
                                .as_str()
                                .and_then(|c| c.parse().ok())
                                .unwrap_or_default(),
                            v["userId"]
                                .as_str()
                                .and_then(|c| c.parse().ok())
                                .unwrap_or_default(),
                        );
                        let sent = stats
                            .typing_sent
                            .lock()
                            .ok()
                            .and_then(|mut t| t.remove(&key));
                        if let Some(sent) = sent {
                            let _ = stats
                                .typing
                                .lock()
                                .await
                                .record(sent.elapsed().as_micros().max(1) as u64);
                        }
                    }
                    Some("message:status") if v["userId"] != me.to_string() => {
                        let key = (
                            v["conversationId"]
                                .as_str()
                                .and_then(|c| c.parse().ok())
                                .unwrap_or_default(),
                            v["userId"]
                                .as_str()
                                .and_then(|c| c.parse().ok())
                                .unwrap_or_default(),
                        );
                        let read = v["readSeq"].as_u64().unwrap_or(0);
                        let sent =
                            stats
                                .read_sent
                                .lock()
                                .ok()
                                .and_then(|mut r| match r.get(&key) {
                                    Some((seq, _)) if *seq <= read => {
                                        r.remove(&key).map(|(_, at)| at)
                                    }
                                    _ => None,
                                });
                        if let Some(sent) = sent {
                            let _ = stats
                                .status
                                .lock()
                                .await
                                .record(sent.elapsed().as_micros().max(1) as u64);
                        }
                    }
                    Some("error") => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        });
        senders.push((tx, convs[i / 2]));
        if i % 200 == 199 {
            eprintln!("[setup] {} sockets open", i + 1);
        }
    }
    crate::procstat::flush_dirty_pages();
    tokio::time::sleep(Duration::from_secs(args.settle)).await;

    // Baseline: a NATS responder and requests at the same rate, during the same run.
    let nats = parley_jetstream::auth::connect_options(args.nats_creds.as_deref(), "parley-bench")?
        .connect(args.nats_url.as_str())
        .await?;
    let mut responder = nats.subscribe(BENCH_ECHO).await?;
    let nr = nats.clone();
    tokio::spawn(async move {
        while let Some(m) = responder.next().await {
            if let Some(r) = m.reply {
                let _ = nr.publish(r, m.payload).await;
            }
        }
    });
    let baseline = Arc::new(Mutex::new(hist()));

    eprintln!(
        "[run] {} msg/s for {}s over {} users…",
        args.rate, args.seconds, args.users
    );
    let total = args.rate * args.seconds;
    let interval = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let run_start = Instant::now();
    stats
        .run_start_unix
        .store(unix_micros() as u64, Ordering::Relaxed);
    // Typing, open loop on its own clock; a user types again only after the edge's throttle.
    if let Some(nanos) = 1_000_000_000u64.checked_div(args.typing_rate) {
        let senders = senders.clone();
        let every = Duration::from_nanos(nanos);
        let until = run_start + Duration::from_secs(args.seconds);
        tokio::spawn(async move {
            let mut last: HashMap<usize, Instant> = HashMap::new();
            let mut tick = tokio::time::interval(every);
            while Instant::now() < until {
                tick.tick().await;
                let i = rand::random_range(0..senders.len());
                if last
                    .get(&i)
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(1100))
                {
                    continue;
                }
                last.insert(i, Instant::now());
                let (tx, conv) = &senders[i];
                let _ = tx.try_send(Out::Typing(*conv));
            }
        });
    }
    for n in 0..total {
        tick.tick().await;
        let (tx, conv) = &senders[rand::random_range(0..senders.len())];
        let _ = tx.try_send(Out::Send(Uuid::now_v7(), *conv));
        if n % 10 == 0 {
            let nats = nats.clone();
            let baseline = baseline.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                if nats.request(BENCH_ECHO, "x".into()).await.is_ok() {
                    let _ = baseline.lock().await.record(t.elapsed().as_micros() as u64);
                }
            });
        }
        if n % args.rate == 0 && n > 0 {
            let (p99, max) = {
                let mut w = stats.recv_window.lock().await;
                let r = (w.value_at_quantile(0.99), w.max());
                w.reset();
                r
            };
            eprintln!(
                "[run] {:>4}s sent={} acked={} received={} (last second: receive p99 {:.1} ms, max {:.1} ms)",
                run_start.elapsed().as_secs(),
                n,
                stats.acks.load(Ordering::Relaxed),
                stats.received.load(Ordering::Relaxed),
                p99 as f64 / 1000.0,
                max as f64 / 1000.0
            );
        }
    }
    // Let the tail arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.received.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "\nusers={} rate={}msg/s seconds={} sent={}",
        args.users, args.rate, args.seconds, total
    );
    println!(
        "acked={} received={} errors={} lost={}",
        stats.acks.load(Ordering::Relaxed),
        stats.received.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed),
        total.saturating_sub(stats.received.load(Ordering::Relaxed))
    );
    print("send→ack", &*stats.ack.lock().await);
    print("send→receive", &*stats.recv.lock().await);
    print("  send→stored", &*stats.to_stored.lock().await);
    print("  stored→receive", &*stats.from_stored.lock().await);
    print("typing start→shown", &*stats.typing.lock().await);
    print("read→status shown", &*stats.status.lock().await);
    print("nats request/reply", &*baseline.lock().await);
    write_results(&args, total, &stats, &*baseline.lock().await).await
}

impl Stats {
    fn record_by_second(&self, sent_unix: u128, micros: u64) {
        let start = self.run_start_unix.load(Ordering::Relaxed) as u128;
        if start == 0 || sent_unix < start {
            return;
        }
        let second = ((sent_unix - start) / 1_000_000) as usize;
        if let Ok(mut v) = self.recv_by_second.lock()
            && let Some(h) = v.get_mut(second)
        {
            let _ = h.record(micros);
        }
    }
}

/// The run as JSON plus its percentile curves and send→receive over time, beside the
/// `load` and `read` results.
async fn write_results(
    args: &Args,
    sent: u64,
    stats: &Stats,
    baseline: &Histogram<u64>,
) -> anyhow::Result<()> {
    let (date, stamp) = report::stamp();
    let name = format!("{stamp}-latency");
    let (ack, recv) = (stats.ack.lock().await, stats.recv.lock().await);
    let (to_stored, from_stored) = (stats.to_stored.lock().await, stats.from_stored.lock().await);
    let (typing, status) = (stats.typing.lock().await, stats.status.lock().await);
    let received = stats.received.load(Ordering::Relaxed);
    let result = report::run_record(
        "latency",
        &date,
        json!({
            "users": args.users,
            "ratePerSecond": args.rate,
            "seconds": args.seconds,
            "sent": sent,
            "acked": stats.acks.load(Ordering::Relaxed),
            "received": received,
            "lost": sent.saturating_sub(received),
            "errors": stats.errors.load(Ordering::Relaxed),
            "latencyMs": {
                "sendAck": Summary::of(&ack),
                "sendReceive": Summary::of(&recv),
                "sendStored": Summary::of(&to_stored),
                "storedReceive": Summary::of(&from_stored),
                "typingShown": Summary::of(&typing),
                "readStatusShown": Summary::of(&status),
                "natsRequestReply": Summary::of(baseline),
            },
        }),
    );
    let path = report::write_json(&args.results_dir, &name, &result)?;
    let percentiles = report::write_svg(
        &args.results_dir,
        &format!("{name}-percentiles"),
        &report::percentile_chart(
            &format!(
                "{} users, {} msg/s, {} s: latency percentiles",
                args.users, args.rate, args.seconds
            ),
            &[
                ("send→ack", &ack),
                ("send→receive", &recv),
                ("typing start→shown", &typing),
                ("read→status shown", &status),
                ("NATS request/reply", baseline),
            ],
        ),
    )?;
    let by_second = stats
        .recv_by_second
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    let over_time = report::write_svg(
        &args.results_dir,
        &format!("{name}-over-time"),
        &report::over_time_chart(
            "send→receive per second of the run",
            &[("send→receive", &by_second)],
        ),
    )?;
    println!(
        "result: {}\nplots: {}, {}",
        path.display(),
        percentiles.display(),
        over_time.display()
    );
    Ok(())
}
