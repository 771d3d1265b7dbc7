//! The load generator's smoke scenario against a real stack (NATS, Postgres, Redis, every
//! worker, one edge, default limits): 50 connections over two worker processes, 100 msg/s for
//! 10 s with typing and receipts, one reconnect storm. Nothing may be lost, duplicated or left
//! with a gap, every send is acked (a send whose ack died with its socket is sent again with
//! the same id), and every kind of latency was measured. Then the read path runs over what the
//! load left behind, and the default `latency` command runs briefly.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};
use parley_testkit::{Stack, Worker};
use serde_json::Value;

fn bench(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_parley-bench"))
        .args(args)
        .output()
        .context("run parley-bench")?;
    ensure!(
        out.status.success(),
        "parley-bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn only_json(dir: &Path, kind: &str) -> anyhow::Result<Value> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "json")
            && p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(kind))
        {
            found.push(p);
        }
    }
    ensure!(
        found.len() == 1,
        "expected one {kind} result, found {found:?}"
    );
    Ok(serde_json::from_slice(&std::fs::read(&found[0])?)?)
}

fn has_file_ending(dir: &Path, suffix: &str) -> anyhow::Result<bool> {
    Ok(dir.read_dir()?.any(|e| {
        e.map(|e| e.file_name().to_string_lossy().ends_with(suffix))
            .unwrap_or(false)
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_scenario_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let stack = Stack::with(&Worker::ALL).start().await?;
    let url = stack.edge_url(0);
    let tmp = tempfile::tempdir()?;
    let state = tmp.path().join("state");
    // PARLEY_BENCH_RESULTS keeps the JSON and plots for a look; by default they go with `tmp`.
    let results = std::env::var("PARLEY_BENCH_RESULTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().join("results"));
    let (state, results) = (state.to_string_lossy(), results.to_string_lossy());
    let common = [
        "--url",
        &url,
        "--state-dir",
        &state,
        "--results-dir",
        &results,
        "--no-record",
    ];
    let metrics = format!("{url}/metrics");
    let ops = |w: Worker| {
        stack
            .ops_url(w)
            .map(|base| format!("{base}/metrics"))
            .unwrap_or_default()
    };
    let (persist, delivery) = (ops(Worker::Persist), ops(Worker::Delivery));
    let mut load = vec![
        "load",
        "--scenario",
        "smoke",
        "--processes",
        "2",
        "--settle-secs",
        "10",
        "--scrape",
        &metrics,
        "--quiesce",
        &persist,
        "--quiesce",
        &delivery,
    ];
    load.extend(common);
    bench(&load)?;

    let r = only_json(Path::new(&*results), "load-smoke")?;
    let m = &r["messages"];
    let n = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
    assert_eq!(n(&r["connections"]["connected"]), 50, "{r:#}");
    assert_eq!(n(&m["lost"]), 0, "lost: {m:#}");
    assert_eq!(n(&m["duplicated"]), 0, "duplicated: {m:#}");
    assert_eq!(n(&m["gaps"]), 0, "gaps: {m:#}");
    assert_eq!(n(&m["unacked"]), 0, "unacked: {r:#}");
    assert!(n(&m["acked"]) > 800, "acked: {m:#}");
    // Direct conversations: the sender's device and the peer's must both hold every message.
    assert_eq!(n(&m["expectedDeliveries"]), 2 * n(&m["acked"]));
    assert_eq!(
        n(&m["receivedLive"]) + n(&m["recoveredBySync"]),
        n(&m["expectedDeliveries"])
    );
    // The storm: every client dropped, came back and re-synced.
    assert!(n(&r["connections"]["reconnects"]) >= 50, "{r:#}");
    assert!(r["connections"]["stormRecoveryMs"].is_u64(), "{r:#}");
    let lat = &r["latencyMs"];
    for k in [
        "sendAck",
        "sendReceive",
        "typingShown",
        "readStatusShown",
        "reconnectSynced",
    ] {
        assert!(n(&lat[k]["count"]) > 0, "no {k} samples: {lat:#}");
    }
    let edge_metrics = r["metricsDelta"][&metrics]
        .as_object()
        .context("metricsDelta")?;
    assert!(
        edge_metrics.keys().any(|k| k.starts_with("parley_")),
        "{edge_metrics:?}"
    );
    let errors = r["errors"].as_object().context("errors")?;
    assert!(errors.is_empty(), "errors: {errors:?}");
    assert!(has_file_ending(Path::new(&*results), "-over-time.svg")?);

    // The read path over the conversations the load left behind.
    let mut read = vec![
        "read", "--users", "10", "--pages", "40", "--lists", "20", "--syncs", "10",
    ];
    read.extend(common);
    bench(&read)?;
    let r = only_json(Path::new(&*results), "read")?;
    assert!(n(&r["latencyMs"]["historyPage"]["count"]) == 40, "{r:#}");
    assert!(
        n(&r["latencyMs"]["syncAfterOffline"]["count"]) == 10,
        "{r:#}"
    );

    // The default open-loop latency benchmark, briefly: every message arrives, and the run is
    // written down with its plots.
    let nats = stack.nats.url();
    bench(&[
        "latency",
        "--url",
        &url,
        "--nats-url",
        &nats,
        "--nats-creds",
        &stack.nats.creds("parley-bench").display().to_string(),
        "--users",
        "10",
        "--rate",
        "50",
        "--seconds",
        "3",
        "--settle",
        "1",
        "--results-dir",
        &results,
    ])?;
    let r = only_json(Path::new(&*results), "latency")?;
    assert_eq!(n(&r["sent"]), 150, "{r:#}");
    assert_eq!(n(&r["lost"]), 0, "{r:#}");
    assert_eq!(n(&r["errors"]), 0, "{r:#}");
    let lat = &r["latencyMs"];
    for k in [
        "sendAck",
        "sendReceive",
        "readStatusShown",
        "natsRequestReply",
    ] {
        assert!(n(&lat[k]["count"]) > 0, "no {k} samples: {lat:#}");
    }
    for plot in ["-latency-percentiles.svg", "-latency-over-time.svg"] {
        assert!(has_file_ending(Path::new(&*results), plot)?, "no {plot}");
    }
    Ok(())
}
