//! `parley-bench read`: the read path against whatever data the target holds — history pages
//! at random depths (log-uniform, so deep pages are as common as shallow ones; p99 must not
//! grow with depth), the conversation list, and `sync` after being offline for a random gap.
//! Users come from the bench's account cache, or from a file of usernames with one password
//! (a database made by `parley-seed`: password `parley-seed-password`). `--make-deep` first
//! builds a deep group conversation on an empty target.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::accounts::{self, each};
use crate::hist::{Summary, fmt_ms, hist, record};
use crate::report;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Edge base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Users to read as.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Usernames, one a line (e.g. from a seeded database:
    /// `psql -tAc "select username from directory.users order by random() limit 500"`);
    /// without it, bench accounts from the cache are used (registered when missing).
    #[arg(long)]
    pub usernames_file: Option<PathBuf>,
    /// Password of the users in --usernames-file.
    #[arg(long, default_value = "parley-seed-password")]
    pub password: String,
    /// History page requests.
    #[arg(long, default_value_t = 2000)]
    pub pages: usize,
    /// Conversation list requests.
    #[arg(long, default_value_t = 500)]
    pub lists: usize,
    /// Syncs after a random offline gap (one WebSocket each).
    #[arg(long, default_value_t = 200)]
    pub syncs: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Before measuring, make sure a group conversation at least this deep exists (sending
    /// from --deep-members members, each under the per-user rate limit).
    #[arg(long, default_value_t = 0)]
    pub make_deep: u64,
    #[arg(long, default_value_t = 40)]
    pub deep_members: usize,
    #[arg(long, env = "PARLEY_STATE", default_value = ".parley")]
    pub state_dir: PathBuf,
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    pub results_dir: PathBuf,
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md"))]
    pub results_md: PathBuf,
    #[arg(long)]
    pub no_record: bool,
    /// What data the target holds, for the results row (e.g. "seed medium").
    #[arg(long, default_value = "bench-made")]
    pub data: String,
}

/// Depth buckets (messages between the newest and the page asked for).
const DEPTHS: [(u64, &str); 5] = [
    (100, "0–99"),
    (1_000, "100–999"),
    (10_000, "1k–9.9k"),
    (100_000, "10k–99k"),
    (u64::MAX, "≥100k"),
];
const GAPS: [(u64, &str); 3] = [(50, "1–49"), (500, "50–499"), (u64::MAX, "≥500")];

fn bucket(buckets: &[(u64, &'static str)], v: u64) -> &'static str {
    buckets
        .iter()
        .find(|(lim, _)| v < *lim)
        .map(|b| b.1)
        .unwrap_or("?")
}

/// Log-uniform integer in [0, n).
fn log_uniform(n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let x = rand::random_range(0.0..(n as f64).ln()).exp();
    (x as u64).saturating_sub(1).min(n - 1)
}

struct Session {
    token: String,
    /// (conversation, last seq)
    convs: Vec<(Uuid, u64)>,
}

async fn list(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Vec<(Uuid, u64)>> {
    let v: Value = http
        .get(format!("{base}/api/v1/conversations"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["conversations"]
        .as_array()
        .context("conversations")?
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?.parse().ok()?, c["lastSeq"].as_u64()?)))
        .collect())
}

async fn make_deep(http: &reqwest::Client, base: &str, args: &Args) -> anyhow::Result<String> {
    let members = args.deep_members.max(2);
    let cache = accounts::prepare(
        http,
        base,
        &args.state_dir,
        accounts::Want {
            run_id: "deep",
            users: members,
            group_size: members,
            valid_for: 3600,
            concurrency: 8,
        },
    )
    .await?;
    let conv = cache.conversations.first().context("deep conversation")?.id;
    let have = list(http, base, &cache.accounts[0].access)
        .await?
        .into_iter()
        .find(|c| c.0 == conv)
        .map(|c| c.1)
        .unwrap_or(0);
    if have < args.make_deep {
        let todo = args.make_deep - have;
        let per = todo.div_ceil(members as u64);
        eprintln!("[deep] sending {todo} messages into one group from {members} members…");
        let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
        let started = Instant::now();
        let tasks: Vec<_> = cache.accounts.iter().map(|a| {
            let (ws_url, token) = (ws_url.clone(), a.access.clone());
            tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url.as_str(), None, true).await?;
                ws.send(Message::Text(json!({"type": "auth", "token": token}).to_string().into())).await?;
                let (mut sink, mut stream) = ws.split();
                let reader = tokio::spawn(async move {
                    let mut acks = 0u64;
                    while acks < per {
                        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
                            Ok(Some(Ok(Message::Text(t)))) if t.contains("\"type\":\"ack\"") => acks += 1,
                            Ok(Some(Ok(_))) => {}
                            _ => break,
                        }
                    }
                    acks
                });
                // 20/s per member: under the edge's per-user and per-connection budgets.
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                for i in 0..per {
                    tick.tick().await;
                    let f = json!({"type": "message:send", "id": Uuid::now_v7(), "conversationId": conv, "body": format!("deep history {i}")});
                    sink.send(Message::Text(f.to_string().into())).await?;
                }
                let acks = reader.await?;
                anyhow::ensure!(acks == per, "only {acks} of {per} acked");
                anyhow::Ok(())
            })
        }).collect();
        for t in tasks {
            t.await??;
        }
        eprintln!("[deep] done in {:.1}s", started.elapsed().as_secs_f64());
    }
    Ok(cache.accounts[0].access.clone())
}

async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(Duration, Value)> {
    let t = Instant::now();
    let resp = http.get(url).bearer_auth(token).send().await?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    ensure!(status.is_success(), "GET {url}: {status} {v}");
    Ok((t.elapsed(), v))
}

/// One WebSocket: sync with every cursor current except `conv` set back by `gap`; returns the
/// time from sending `sync` to `sync:done` and the messages that came.
async fn sync_once(
    base: &str,
    s: &Session,
    conv: Uuid,
    last: u64,
    gap: u64,
) -> anyhow::Result<(Duration, u64)> {
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(ws_url.as_str(), None, true).await?;
    ws.send(Message::Text(
        json!({"type": "auth", "token": s.token}).to_string().into(),
    ))
    .await?;
    let mut cursors: BTreeMap<String, u64> =
        s.convs.iter().map(|(c, l)| (c.to_string(), *l)).collect();
    cursors.insert(conv.to_string(), last - gap);
    let mut t = None;
    let mut got = 0u64;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("sync timed out")?;
        let Some(Ok(Message::Text(text))) = frame else {
            anyhow::bail!("socket closed during sync");
        };
        let v: Value = serde_json::from_str(&text)?;
        match v["type"].as_str() {
            Some("ready") => {
                ws.send(Message::Text(
                    json!({"type": "sync", "cursors": cursors})
                        .to_string()
                        .into(),
                ))
                .await?;
                t = Some(Instant::now());
            }
            Some("messages:offline") => {
                got += v["messages"].as_array().map_or(0, |m| m.len() as u64)
            }
            Some("sync:done") => {
                let d = t.context("sync:done before ready")?.elapsed();
                let _ = ws.close(None).await;
                return Ok((d, got));
            }
            Some("error") => anyhow::bail!("sync error: {v}"),
            _ => {}
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let base = args.url.trim_end_matches('/').to_string();
    let http = reqwest::Client::new();
    if args.make_deep > 0 {
        make_deep(&http, &base, &args).await?;
    }
    let tokens: Vec<String> = match &args.usernames_file {
        Some(f) => {
            let names: Vec<String> = std::fs::read_to_string(f)
                .with_context(|| format!("read {f:?}"))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(args.users)
                .map(str::to_string)
                .collect();
            each("login", names, args.concurrency, |n| {
                let http = http.clone();
                let (base, pw) = (base.clone(), args.password.clone());
                async move { Ok(accounts::login(&http, &base, &n, &pw).await?.access) }
            })
            .await?
        }
        None => {
            let mut t: Vec<String> = accounts::prepare(
                &http,
                &base,
                &args.state_dir,
                accounts::Want {
                    run_id: "load",
                    users: args.users,
                    group_size: 2,
                    valid_for: 3600,
                    concurrency: args.concurrency,
                },
            )
            .await?
            .accounts[..args.users]
                .iter()
                .map(|a| a.access.clone())
                .collect();
            if args.make_deep > 0 {
                // Readers of the deep conversation too.
                let deep = accounts::Cache::load(&args.state_dir, &base, "deep");
                t.extend(deep.accounts.iter().map(|a| a.access.clone()));
            }
            t
        }
    };
    ensure!(!tokens.is_empty(), "no users to read as");

    // Conversation lists (and, from them, what there is to read).
    let list_url = format!("{base}/api/v1/conversations");
    let mut lists = hist();
    let firsts = each(
        "conversation lists",
        tokens.clone(),
        args.concurrency,
        |t| {
            let (http, url) = (http.clone(), list_url.clone());
            async move {
                let (d, v) = timed_get(&http, &url, &t).await?;
                let convs = v["conversations"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| {
                                Some((c["id"].as_str()?.parse().ok()?, c["lastSeq"].as_u64()?))
                            })
                            .collect::<Vec<(Uuid, u64)>>()
                    })
                    .unwrap_or_default();
                Ok((d, Session { token: t, convs }))
            }
        },
    )
    .await?;
    let mut sessions = Vec::new();
    for (d, s) in firsts {
        record(&mut lists, d.as_micros());
        sessions.push(s);
    }
    let extra: Vec<usize> = (0..args.lists.saturating_sub(sessions.len()))
        .map(|_| rand::random_range(0..sessions.len()))
        .collect();
    let more = each("conversation lists", extra, args.concurrency, |i| {
        let (http, url, t) = (http.clone(), list_url.clone(), sessions[i].token.clone());
        async move { Ok(timed_get(&http, &url, &t).await?.0) }
    })
    .await?;
    for d in more {
        record(&mut lists, d.as_micros());
    }
    let readable: Vec<(usize, Uuid, u64)> = sessions
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.convs
                .iter()
                .filter(|c| c.1 >= 2)
                .map(move |c| (i, c.0, c.1))
        })
        .collect();
    ensure!(
        !readable.is_empty(),
        "no conversation with history to read (try --make-deep)"
    );
    let deepest = readable.iter().map(|r| r.2).max().unwrap_or(0);
    eprintln!(
        "[read] {} users, {} conversations with history, deepest {deepest}",
        sessions.len(),
        readable.len()
    );

    // History pages at log-uniform depths, biased to deep conversations: half the requests go
    // to conversations in the deepest tenth, so every depth bucket gets samples.
    let mut by_depth: BTreeMap<&'static str, Histogram<u64>> = BTreeMap::new();
    let mut all_pages = hist();
    let mut sorted = readable.clone();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.2));
    let deep_tenth = &sorted[..sorted.len().div_ceil(10)];
    let picks: Vec<(usize, Uuid, u64, u64)> = (0..args.pages)
        .map(|k| {
            let r = if k % 2 == 0 {
                deep_tenth[rand::random_range(0..deep_tenth.len())]
            } else {
                readable[rand::random_range(0..readable.len())]
            };
            (r.0, r.1, r.2, log_uniform(r.2))
        })
        .collect();
    let pages = each(
        "history pages",
        picks,
        args.concurrency,
        |(i, conv, last, depth)| {
            let http = http.clone();
            let url = format!(
                "{base}/api/v1/conversations/{conv}/messages?before={}&limit=50",
                last + 1 - depth
            );
            let t = sessions[i].token.clone();
            async move {
                let (d, v) = timed_get(&http, &url, &t).await?;
                let n = v["messages"].as_array().map_or(0, Vec::len);
                ensure!(n > 0 || last + 1 - depth <= 1, "empty page at {url}");
                Ok((depth, d))
            }
        },
    )
    .await?;
    for (depth, d) in pages {
        record(
            by_depth.entry(bucket(&DEPTHS, depth)).or_insert_with(hist),
            d.as_micros(),
        );
        record(&mut all_pages, d.as_micros());
    }

    // Sync after offline: one socket per sync, a log-uniform gap up to 5,000 messages.
    let mut by_gap: BTreeMap<&'static str, Histogram<u64>> = BTreeMap::new();
    let mut all_syncs = hist();
    let picks: Vec<(usize, Uuid, u64, u64)> = (0..args.syncs)
        .map(|_| {
            let r = readable[rand::random_range(0..readable.len())];
            (r.0, r.1, r.2, 1 + log_uniform(r.2.min(5000)))
        })
        .collect();
    let syncs = each(
        "syncs",
        picks,
        args.concurrency.min(4),
        |(i, conv, last, gap)| {
            let (base, s) = (base.clone(), &sessions[i]);
            async move {
                let (d, got) = sync_once(&base, s, conv, last, gap).await?;
                ensure!(got >= gap, "sync of a {gap}-message gap brought {got}");
                Ok((gap, d))
            }
        },
    )
    .await?;
    for (gap, d) in syncs {
        record(
            by_gap.entry(bucket(&GAPS, gap)).or_insert_with(hist),
            d.as_micros(),
        );
        record(&mut all_syncs, d.as_micros());
    }

    // Results.
    let (date, stamp) = report::stamp();
    let name = format!("{stamp}-read");
    let command: Vec<String> = std::env::args().collect();
    let depth_json: BTreeMap<&str, Summary> =
        by_depth.iter().map(|(k, h)| (*k, Summary::of(h))).collect();
    let gap_json: BTreeMap<&str, Summary> =
        by_gap.iter().map(|(k, h)| (*k, Summary::of(h))).collect();
    let result = report::run_record(
        "read",
        &date,
        json!({
            "data": args.data,
            "users": sessions.len(),
            "conversationsWithHistory": readable.len(),
            "deepestConversation": deepest,
            "latencyMs": {
                "conversationList": Summary::of(&lists),
                "historyPage": Summary::of(&all_pages),
                "historyPageByDepth": depth_json,
                "syncAfterOffline": Summary::of(&all_syncs),
                "syncByGap": gap_json,
            },
        }),
    );
    let path = report::write_json(&args.results_dir, &name, &result)?;
    let mut curves: Vec<(String, &Histogram<u64>)> = vec![("conversation list".into(), &lists)];
    for (_, b) in DEPTHS {
        if let Some(h) = by_depth.get(b) {
            curves.push((format!("history depth {b}"), h));
        }
    }
    for (_, b) in GAPS {
        if let Some(h) = by_gap.get(b) {
            curves.push((format!("sync gap {b}"), h));
        }
    }
    let refs: Vec<(&str, &Histogram<u64>)> = curves.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    let svg = report::write_svg(
        &args.results_dir,
        &format!("{name}-percentiles"),
        &report::percentile_chart("read path: latency percentiles", &refs),
    )?;

    println!("{}", Summary::of(&lists).line("conversation list"));
    for (_, b) in DEPTHS {
        if let Some(h) = by_depth.get(b) {
            println!("{}", Summary::of(h).line(&format!("history depth {b}")));
        }
    }
    for (_, b) in GAPS {
        if let Some(h) = by_gap.get(b) {
            println!("{}", Summary::of(h).line(&format!("sync gap {b}")));
        }
    }
    println!("result: {}\nplot: {}", path.display(), svg.display());

    if !args.no_record {
        let p99s = |m: &BTreeMap<&'static str, Histogram<u64>>, bs: &[(u64, &'static str)]| {
            bs.iter()
                .filter_map(|(_, b)| {
                    m.get(b)
                        .map(|h| format!("{b}: {}", fmt_ms(Summary::of(h).p99)))
                })
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let row = vec![
            date,
            format!(
                "read path, {} ({} users, deepest {deepest})",
                args.data,
                sessions.len()
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
            Summary::of(&lists).cell(),
            p99s(&by_depth, &DEPTHS),
            p99s(&by_gap, &GAPS),
            format!("`results/{name}.json`"),
        ];
        report::append_row(&args.results_md, &READ_HEADER, &row)?;
    }
    Ok(result)
}

pub const READ_HEADER: [&str; 8] = [
    "date",
    "scenario",
    "hardware",
    "command",
    "conversation list p50 / p99 / p99.9",
    "history page p99 ms by depth",
    "sync p99 ms by gap (messages)",
    "result",
];
