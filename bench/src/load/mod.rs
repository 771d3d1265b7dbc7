//! `parley-bench load`: up to 10,000 authenticated WebSocket clients spread over several
//! worker processes of this same binary (a process may hold 20,000 open files), driven by an
//! open-loop schedule. The parent registers (or reuses) the accounts, splits conversations
//! between workers so that every member of a conversation lives in one worker, measures the
//! server's CPU and the edge's memory from /proc, merges the workers' histograms and writes
//! the results.

mod device;
mod scenario;
mod view;
mod wire;
pub mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

pub use scenario::Preset;
use wire::{Go, Phase, PlanConversation, Report, Storm, WorkerPlan, WorkerResult};

use crate::hist::{Summary, coarse, decode, fmt_ms, hist, merge};
use crate::{accounts, procstat, report, scrape};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Edge base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Named scenario; the options below override its numbers.
    #[arg(long, value_enum, default_value = "smoke")]
    pub scenario: Preset,
    /// Concurrent WebSocket connections (one user each).
    #[arg(long)]
    pub connections: Option<usize>,
    /// Messages per second, all senders together (replaces the scenario's schedule).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of sending at --rate.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Typing starts per second, all users together.
    #[arg(long)]
    pub typing_rate: Option<f64>,
    /// Share of received messages the recipient also marks read (every one is marked delivered).
    #[arg(long)]
    pub read_share: Option<f64>,
    /// Seconds after the start at which every client drops and reconnects (a reconnect storm).
    #[arg(long)]
    pub storm_at: Option<f64>,
    /// Clients come back after a uniform random delay up to this (then back off on 503).
    #[arg(long, default_value_t = 10_000)]
    pub storm_jitter_ms: u64,
    /// No reconnect storm, whatever the scenario says.
    #[arg(long)]
    pub no_storm: bool,
    /// Members per conversation (2 = direct conversations).
    #[arg(long, default_value_t = 2)]
    pub group_size: usize,
    /// Worker processes (default: one per 2,500 connections).
    #[arg(long)]
    pub processes: Option<usize>,
    /// New connections per second during the ramp, all workers together; keep it under the
    /// edge's PARLEY_ACCEPT_RATE (503 + Retry-After answers are honoured either way).
    #[arg(long, default_value_t = 450.0)]
    pub connect_rate: f64,
    /// Parallel registrations/logins during set-up.
    #[arg(long, default_value_t = 8)]
    pub setup_concurrency: usize,
    /// Where the account cache lives.
    #[arg(long, env = "PARLEY_STATE", default_value = ".parley")]
    pub state_dir: PathBuf,
    /// Name of the account set in the cache (with the URL, the cache key).
    #[arg(long, default_value = "load")]
    pub accounts_id: String,
    /// Seconds to wait after the schedule for late deliveries before the final sync.
    #[arg(long, default_value_t = 20)]
    pub settle_secs: u64,
    /// Directory for the JSON result and the SVG plots.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    pub results_dir: PathBuf,
    /// The results file whose "Load scenarios" section gets a summary row.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md"))]
    pub results_md: PathBuf,
    /// Do not append a row to the results file.
    #[arg(long)]
    pub no_record: bool,
    /// Only count server processes whose command line or environment contains this (e.g. the
    /// database name), so other instances on the machine are left out.
    #[arg(long)]
    pub server_match: Option<String>,
    /// Prometheus endpoints to read before and after the schedule (repeatable), e.g. the
    /// edge's `/metrics` and the workers' ops ports: counter deltas and gauge maxima go into
    /// the result, to show where the time went.
    #[arg(long)]
    pub scrape: Vec<String>,
    /// Before the schedule starts, wait (up to 10 minutes) until every `parley_consumer_lag`
    /// at these endpoints is 0: the ramp's presence events drain first, so the schedule is
    /// measured from a steady state. After it, the final sync also waits for lag 0 (within
    /// --settle-secs), so a backlog is not counted as loss.
    #[arg(long)]
    pub quiesce: Vec<String>,
    /// A note for the results row (e.g. what changed since the last run).
    #[arg(long, default_value = "")]
    pub note: String,
    /// Exit non-zero when anything was lost, duplicated or left with a gap.
    #[arg(long)]
    pub check: bool,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
}

fn split(cache: &accounts::Cache, convs: usize, processes: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
    // Conversations go to workers in contiguous slices; accounts follow their conversations.
    let per = convs.div_ceil(processes);
    (0..processes)
        .map(|p| {
            let cs: Vec<usize> = (p * per..((p + 1) * per).min(convs)).collect();
            let mut users: Vec<usize> = cs
                .iter()
                .flat_map(|&c| cache.conversations[c].members.iter().copied())
                .collect();
            users.sort_unstable();
            users.dedup();
            (cs, users)
        })
        .filter(|(cs, _)| !cs.is_empty())
        .collect()
}

pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let mut sc = args.scenario.scenario();
    if let Some(c) = args.connections {
        sc.connections = c;
    }
    if args.rate.is_some() || args.seconds.is_some() {
        let first = sc.phases.first().copied().unwrap_or(Phase {
            secs: 10,
            rate: 100.0,
        });
        sc.phases = vec![Phase {
            secs: args.seconds.unwrap_or(first.secs),
            rate: args.rate.unwrap_or(first.rate),
        }];
    }
    if let Some(t) = args.typing_rate {
        sc.typing_rate = t;
    }
    if let Some(r) = args.read_share {
        sc.read_share = r;
    }
    if let Some(at) = args.storm_at {
        sc.storm = Some(Storm {
            at_secs: at,
            jitter_ms: args.storm_jitter_ms,
        });
    } else if let Some(s) = sc.storm.as_mut()
        && args.storm_jitter_ms != 10_000
    {
        s.jitter_ms = args.storm_jitter_ms;
    }
    if args.no_storm {
        sc.storm = None;
    }
    ensure!(args.group_size >= 2, "--group-size must be at least 2");
    let users = sc.connections / args.group_size * args.group_size;
    ensure!(users >= 2, "need at least {} connections", args.group_size);
    let total_secs: u64 = sc.phases.iter().map(|p| p.secs).sum();
    let processes = args
        .processes
        .unwrap_or_else(|| users.div_ceil(2500))
        .clamp(1, users / args.group_size);

    let base = args.url.trim_end_matches('/').to_string();
    let http = reqwest::Client::new();
    let setup = Instant::now();
    let want = accounts::Want {
        run_id: &args.accounts_id,
        users,
        group_size: args.group_size,
        // Sockets close at token expiry: tokens must outlive set-up, the run and the settle.
        valid_for: total_secs + args.settle_secs + 300,
        concurrency: args.setup_concurrency,
    };
    let cache = accounts::prepare(&http, &base, &args.state_dir, want).await?;
    eprintln!(
        "[setup] {} accounts, {} conversations ready in {:.1}s",
        users,
        users / args.group_size,
        setup.elapsed().as_secs_f64()
    );

    let procs = procstat::find(args.server_match.as_deref());
    let edge_rss_before = procstat::edge_rss(&procs);
    let mut names: Vec<&str> = procs.iter().map(|p| p.name.as_str()).collect();
    names.dedup();
    eprintln!(
        "[setup] server processes measured: {} ({})",
        procs.len(),
        names.join(", ")
    );

    // Spawn the workers.
    let slices = split(&cache, users / args.group_size, processes);
    let (tx, mut rx) = mpsc::channel::<(usize, Report)>(1024);
    let mut workers = Vec::new();
    let exe = std::env::current_exe().context("own executable")?;
    for (w, (cs, us)) in slices.iter().enumerate() {
        let local: BTreeMap<usize, usize> = us.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        let plan = WorkerPlan {
            worker: w,
            base_url: base.clone(),
            accounts: us
                .iter()
                .map(|&u| {
                    let a = &cache.accounts[u];
                    (a.id, a.access.clone(), a.refresh.clone())
                })
                .collect(),
            conversations: cs
                .iter()
                .map(|&c| PlanConversation {
                    id: cache.conversations[c].id,
                    members: cache.conversations[c]
                        .members
                        .iter()
                        .map(|m| local[m])
                        .collect(),
                })
                .collect(),
            connect_rate: args.connect_rate / slices.len() as f64,
            phases: sc
                .phases
                .iter()
                .map(|p| Phase {
                    secs: p.secs,
                    rate: p.rate * us.len() as f64 / users as f64,
                })
                .collect(),
            typing_rate: sc.typing_rate * us.len() as f64 / users as f64,
            read_share: sc.read_share,
            storm: sc.storm,
            settle_secs: args.settle_secs,
            quiesce: args.quiesce.clone(),
        };
        let mut child = Command::new(&exe)
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawn worker")?;
        let mut stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        stdin
            .write_all(format!("{}\n", serde_json::to_string(&plan)?).as_bytes())
            .await?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Report>(&line) {
                    Ok(r) => {
                        if tx.send((w, r)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("[worker {w}] unreadable report: {e}"),
                }
            }
        });
        workers.push(Worker { child, stdin });
    }
    drop(tx);
    let n = workers.len();

    // Ramp: wait until every worker has opened its connections.
    let ramp = Instant::now();
    let mut connected = 0usize;
    let mut failed = 0usize;
    let mut ready = 0;
    while ready < n {
        match rx.recv().await {
            Some((
                _,
                Report::Ready {
                    connected: c,
                    failed: f,
                },
            )) => {
                connected += c;
                failed += f;
                ready += 1;
            }
            Some(_) => {}
            None => bail!("a worker exited during the ramp"),
        }
    }
    let ramp_secs = ramp.elapsed().as_secs_f64();
    eprintln!(
        "[ramp] {connected} connected, {failed} failed in {ramp_secs:.1}s over {n} processes"
    );
    // Idle memory: let the edge settle (presence, subscriptions), then read its RSS.
    tokio::time::sleep(Duration::from_secs(5)).await;
    if !args.quiesce.is_empty() {
        let waited = Instant::now();
        loop {
            let mut lag = 0.0;
            for u in &args.quiesce {
                let s = scrape::fetch(&http, u).await;
                lag += s
                    .iter()
                    .filter(|(k, _)| k.starts_with("parley_consumer_lag"))
                    .map(|(_, v)| v)
                    .sum::<f64>();
            }
            if lag == 0.0 || waited.elapsed() > Duration::from_secs(600) {
                eprintln!(
                    "[ramp] consumer lag {lag} after waiting {:.0}s",
                    waited.elapsed().as_secs_f64()
                );
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let edge_rss_idle = procstat::edge_rss(&procs);

    let mut metrics_before = BTreeMap::new();
    for u in &args.scrape {
        metrics_before.insert(u.clone(), scrape::fetch(&http, u).await);
    }
    let mut gauges: BTreeMap<String, scrape::Sample> = BTreeMap::new();
    let cpu_before = procstat::cpu_by_name(&procs);
    let go = Instant::now();
    for w in &mut workers {
        let go = serde_json::to_string(&Go { go: true })?;
        w.stdin.write_all(format!("{go}\n").as_bytes()).await?;
        w.stdin.flush().await?;
    }
    eprintln!(
        "[run] {} for {}s: {} connections, {} msg/s{}",
        sc.name,
        total_secs,
        connected,
        sc.phases
            .iter()
            .map(|p| format!("{:.0}", p.rate))
            .collect::<Vec<_>>()
            .join("→"),
        sc.storm
            .map(|s| format!(", reconnect storm at {}s", s.at_secs))
            .unwrap_or_default()
    );
    let end = go + Duration::from_secs(total_secs);
    let mut cpu_after = None;
    let mut metrics_delta: BTreeMap<String, scrape::Sample> = BTreeMap::new();
    let mut rss_samples: Vec<u64> = Vec::new();
    let mut progress: BTreeMap<usize, (u64, u64, u64, usize)> = BTreeMap::new();
    let mut results: Vec<WorkerResult> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_print = Instant::now();
    while results.len() < n {
        tokio::select! {
            _ = tick.tick() => {
                if Instant::now() < end {
                    rss_samples.push(procstat::edge_rss(&procs));
                    if go.elapsed().as_secs().is_multiple_of(5) {
                        for u in &args.scrape {
                            let s = scrape::fetch(&http, u).await;
                            scrape::track_gauges(gauges.entry(u.clone()).or_default(), &s);
                        }
                    }
                } else if cpu_after.is_none() {
                    cpu_after = Some((procstat::cpu_by_name(&procs), go.elapsed().as_secs_f64()));
                    for u in &args.scrape {
                        let after = scrape::fetch(&http, u).await;
                        let before = metrics_before.get(u).cloned().unwrap_or_default();
                        let max = gauges.get(u).cloned().unwrap_or_default();
                        metrics_delta.insert(u.clone(), scrape::delta(&before, &after, &max));
                    }
                    eprintln!("[run] schedule done; settling and syncing every device…");
                }
                if last_print.elapsed() >= Duration::from_secs(5) && Instant::now() < end {
                    last_print = Instant::now();
                    let s = progress.values().fold((0, 0, 0, 0), |a, v| (a.0 + v.0, a.1 + v.1, a.2 + v.2, a.3 + v.3));
                    eprintln!(
                        "[run] {:>4}s sent={} acked={} received={} connected={}",
                        go.elapsed().as_secs(), s.0, s.1, s.2, s.3
                    );
                }
            }
            r = rx.recv() => match r {
                Some((w, Report::Progress { sent, acked, received, connected })) => {
                    progress.insert(w, (sent, acked, received, connected));
                }
                Some((_, Report::Done(r))) => results.push(*r),
                Some(_) => {}
                None => break,
            }
        }
    }
    for mut w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w.child.wait()).await;
    }
    ensure!(
        results.len() == n,
        "only {} of {n} workers reported results",
        results.len()
    );
    let (cpu_after, cpu_wall) =
        cpu_after.unwrap_or_else(|| (procstat::cpu_by_name(&procs), go.elapsed().as_secs_f64()));

    let measured = Measured {
        users,
        processes: n,
        connected,
        failed,
        ramp_secs,
        edge_rss_before,
        edge_rss_idle,
        rss_samples,
        cpu_before,
        cpu_after,
        cpu_wall,
        metrics_delta,
    };
    summarize(&args, &sc, measured, results)
}

/// What the parent measured itself, beside the workers' results.
struct Measured {
    users: usize,
    processes: usize,
    connected: usize,
    failed: usize,
    ramp_secs: f64,
    edge_rss_before: u64,
    edge_rss_idle: u64,
    rss_samples: Vec<u64>,
    cpu_before: BTreeMap<String, f64>,
    cpu_after: BTreeMap<String, f64>,
    cpu_wall: f64,
    metrics_delta: BTreeMap<String, scrape::Sample>,
}

fn summarize(
    args: &Args,
    sc: &scenario::Scenario,
    m: Measured,
    results: Vec<WorkerResult>,
) -> anyhow::Result<serde_json::Value> {
    let Measured {
        users,
        processes,
        connected,
        failed,
        ramp_secs,
        edge_rss_before,
        edge_rss_idle,
        rss_samples,
        cpu_before,
        cpu_after,
        cpu_wall,
        metrics_delta,
    } = m;
    // Merge counts and histograms.
    let mut t = WorkerResult::default();
    let mut hists: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut per_second: BTreeMap<String, Vec<Histogram<u64>>> = BTreeMap::new();
    let mut storm_ms: Option<u64> = None;
    for r in &results {
        t.scheduled += r.scheduled;
        t.sent += r.sent;
        t.skipped_offline += r.skipped_offline;
        t.acked += r.acked;
        t.resent += r.resent;
        t.unacked += r.unacked;
        t.unacked_but_stored += r.unacked_but_stored;
        t.expected += r.expected;
        t.received_live += r.received_live;
        t.recovered_by_sync += r.recovered_by_sync;
        t.lost += r.lost;
        t.duplicated += r.duplicated;
        t.redelivered += r.redelivered;
        t.gaps += r.gaps;
        t.disconnects += r.disconnects;
        t.reconnects += r.reconnects;
        t.rejected_503 += r.rejected_503;
        t.typing_sent += r.typing_sent;
        t.reads_sent += r.reads_sent;
        t.delivered_sent += r.delivered_sent;
        for (k, v) in &r.errors {
            *t.errors.entry(k.clone()).or_default() += v;
        }
        if let Some(ms) = r.storm_recovery_ms {
            storm_ms = Some(storm_ms.unwrap_or(0).max(ms));
        }
        for (k, v) in &r.hists {
            merge(hists.entry(k.clone()).or_insert_with(hist), &decode(v)?);
        }
        for (k, v) in &r.per_second {
            let into = per_second.entry(k.clone()).or_default();
            for (s, h) in v.iter().enumerate() {
                while into.len() <= s {
                    into.push(coarse());
                }
                merge(&mut into[s], &decode(h)?);
            }
        }
    }
    let empty = hist();
    let h = |k: &str| hists.get(k).unwrap_or(&empty);
    let sum = |k: &str| Summary::of(h(k));
    let cpu: BTreeMap<String, f64> = cpu_after
        .iter()
        .map(|(k, v)| (k.clone(), v - cpu_before.get(k).copied().unwrap_or(0.0)))
        .collect();
    let cpu_total: f64 = cpu.values().sum();
    let cpu_per_1k = (t.acked > 0).then(|| cpu_total / (t.acked as f64 / 1000.0));
    let per_conn = |rss: u64| (connected > 0).then(|| rss as f64 / connected as f64 / 1024.0);
    let rss_load_max = rss_samples.iter().copied().max().unwrap_or(0);
    let idle_delta_kib = (connected > 0)
        .then(|| edge_rss_idle.saturating_sub(edge_rss_before) as f64 / connected as f64 / 1024.0);
    let (date, stamp) = report::stamp();
    let name = format!("{stamp}-load-{}", sc.name);
    let command: Vec<String> = std::env::args().collect();
    let result = report::run_record(
        "load",
        &date,
        json!({
            "scenario": sc.name,
            "note": args.note,
            "config": {
                "url": args.url, "connections": users, "groupSize": args.group_size,
                "processes": processes,
                "phases": sc.phases.iter().map(|p| json!({"secs": p.secs, "rate": p.rate})).collect::<Vec<_>>(),
                "typingRate": sc.typing_rate, "readShare": sc.read_share,
                "storm": sc.storm.map(|s| json!({"atSecs": s.at_secs, "jitterMs": s.jitter_ms})),
                "connectRate": args.connect_rate,
            },
            "connections": {"connected": connected, "failed": failed, "rampSecs": ramp_secs,
                "rejected503": t.rejected_503, "disconnects": t.disconnects, "reconnects": t.reconnects,
                "stormRecoveryMs": storm_ms},
            "messages": {"scheduled": t.scheduled, "sent": t.sent, "skippedOffline": t.skipped_offline,
                "acked": t.acked, "resent": t.resent, "unacked": t.unacked, "unackedButStored": t.unacked_but_stored,
                "expectedDeliveries": t.expected, "receivedLive": t.received_live,
                "recoveredBySync": t.recovered_by_sync, "lost": t.lost, "duplicated": t.duplicated,
                "redelivered": t.redelivered, "gaps": t.gaps},
            "receipts": {"delivered": t.delivered_sent, "read": t.reads_sent, "typing": t.typing_sent},
            "errors": t.errors,
            "latencyMs": {
                "sendAck": sum("send_ack"), "sendReceive": sum("send_receive"),
                "typingShown": sum("typing_shown"), "readStatusShown": sum("read_status_shown"),
                "connect": sum("connect"), "reconnectSynced": sum("reconnect_synced"),
            },
            "server": {
                "cpuSecondsByProcess": cpu, "cpuSeconds": cpu_total, "wallSeconds": cpu_wall,
                "cpuSecondsPer1000Messages": cpu_per_1k,
                "edgeRssBytes": {"beforeConnections": edge_rss_before, "idle": edge_rss_idle, "underLoadMax": rss_load_max},
                "edgeKibPerConnection": {"idle": per_conn(edge_rss_idle), "idleAboveBaseline": idle_delta_kib, "underLoadMax": per_conn(rss_load_max)},
                "filter": args.server_match,
            },
            "metricsDelta": metrics_delta,
        }),
    );
    let path = report::write_json(&args.results_dir, &name, &result)?;
    let pct = report::percentile_chart(
        &format!("{}: latency percentiles", sc.name),
        &[
            ("send→ack", h("send_ack")),
            ("send→receive", h("send_receive")),
            ("typing start→shown", h("typing_shown")),
            ("read→status shown", h("read_status_shown")),
            ("reconnect→synced", h("reconnect_synced")),
        ],
    );
    let svg1 = report::write_svg(&args.results_dir, &format!("{name}-percentiles"), &pct)?;
    let empty_v = Vec::new();
    let over = report::over_time_chart(
        &format!("{}: latency over time", sc.name),
        &[
            ("send→ack", per_second.get("send_ack").unwrap_or(&empty_v)),
            (
                "send→receive",
                per_second.get("send_receive").unwrap_or(&empty_v),
            ),
        ],
    );
    let svg2 = report::write_svg(&args.results_dir, &format!("{name}-over-time"), &over)?;

    // Human summary.
    println!(
        "\nscenario={} connections={connected}/{users} processes={processes}",
        sc.name
    );
    println!(
        "scheduled={} sent={} acked={} resent={} unacked={} skipped_offline={}",
        t.scheduled, t.sent, t.acked, t.resent, t.unacked, t.skipped_offline
    );
    println!(
        "deliveries expected={} live={} via_sync={} LOST={} DUPLICATED={} gaps={} redelivered={}",
        t.expected,
        t.received_live,
        t.recovered_by_sync,
        t.lost,
        t.duplicated,
        t.gaps,
        t.redelivered
    );
    println!(
        "errors={:?} rejected_503={} disconnects={} reconnects={} storm_recovery_ms={storm_ms:?}",
        t.errors, t.rejected_503, t.disconnects, t.reconnects
    );
    for (k, label) in [
        ("send_ack", "send→ack"),
        ("send_receive", "send→receive"),
        ("typing_shown", "typing start→shown"),
        ("read_status_shown", "read→status shown"),
        ("connect", "connect→ready"),
        ("reconnect_synced", "drop→re-synced"),
    ] {
        println!("{}", sum(k).line(label));
    }
    println!(
        "server cpu {:.1}s over {:.0}s ({}); per 1,000 messages: {}",
        cpu_total,
        cpu_wall,
        cpu.iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        cpu_per_1k
            .map(|v| format!("{v:.2}s"))
            .unwrap_or_else(|| "–".into())
    );
    println!(
        "edge RSS: before {:.1} MiB, idle {:.1} MiB ({} KiB/conn, {} KiB/conn above baseline), under load max {:.1} MiB",
        edge_rss_before as f64 / 1048576.0,
        edge_rss_idle as f64 / 1048576.0,
        per_conn(edge_rss_idle)
            .map(|v| format!("{v:.1}"))
            .unwrap_or_default(),
        idle_delta_kib
            .map(|v| format!("{v:.1}"))
            .unwrap_or_default(),
        rss_load_max as f64 / 1048576.0
    );
    println!(
        "result: {}\nplots: {}, {}",
        path.display(),
        svg1.display(),
        svg2.display()
    );

    if !args.no_record {
        let rate = sc
            .phases
            .iter()
            .map(|p| format!("{:.0}", p.rate))
            .collect::<Vec<_>>()
            .join("→");
        let row = vec![
            date,
            format!(
                "{}: {connected} conns, {rate} msg/s, {}s{}{}",
                sc.name,
                sc.phases.iter().map(|p| p.secs).sum::<u64>(),
                sc.storm
                    .map(|s| format!(", storm at {}s", s.at_secs))
                    .unwrap_or_default(),
                if args.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", args.note)
                }
            ),
            report::hardware(),
            format!(
                "`parley-bench {}`",
                command
                    .iter()
                    .skip(1)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            format!("{} / {}", t.sent, t.acked),
            format!("{} / {} / {}", t.lost, t.duplicated, t.gaps),
            sum("send_ack").cell(),
            sum("send_receive").cell(),
            format!(
                "{} / {}",
                p99_cell(&sum("typing_shown")),
                p99_cell(&sum("read_status_shown"))
            ),
            cpu_per_1k
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "–".into()),
            format!(
                "{} / {}",
                per_conn(edge_rss_idle)
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_default(),
                per_conn(rss_load_max)
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_default()
            ),
            format!("`results/{name}.json`"),
        ];
        report::append_row(&args.results_md, &LOAD_HEADER, &row)?;
    }
    if args.check {
        ensure!(
            t.lost == 0 && t.duplicated == 0 && t.gaps == 0,
            "lost {} duplicated {} gaps {}",
            t.lost,
            t.duplicated,
            t.gaps
        );
    }
    Ok(result)
}

/// A p99 for a table cell, "–" when nothing was measured.
fn p99_cell(s: &Summary) -> String {
    if s.count == 0 {
        "–".into()
    } else {
        fmt_ms(s.p99)
    }
}

pub const LOAD_HEADER: [&str; 12] = [
    "date",
    "scenario",
    "hardware",
    "command",
    "sent / acked",
    "lost / dup / gaps",
    "send→ack p50 / p99 / p99.9",
    "send→receive p50 / p99 / p99.9",
    "typing / read→status p99 ms",
    "server CPU s per 1k msgs",
    "edge KiB/conn idle / load",
    "result",
];
