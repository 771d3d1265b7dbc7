//! Dashboards and alerts resolve against what the binaries really export.
//!
//! A real Prometheus scrapes a running Parley (edge, directory, persist, delivery) while a
//! little load runs through it — messages, a rejected edit, an invalid frame, a bad token,
//! failed and good logins, a rate-limit burst, a connection over the cap. Then every panel
//! query of every dashboard in `grafana/dashboards/` (template variables resolved through
//! Prometheus like Grafana does) and every rule of `ops/prometheus/alerts.yml` is evaluated
//! through the HTTP API and must return data; every rule must be loaded with health `ok`.
//!
//! Needs the `prometheus` binary (Debian package `prometheus`; `PARLEY_PROMETHEUS` overrides
//! the path). Without it the test is skipped, unless `CI` is set: then it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use parley_testkit::Worker::{Delivery, Directory, Persist};
use parley_testkit::{Stack, Ws};
use serde_json::{Value, json};
use uuid::Uuid;

/// Grafana's interval macros, as a dashboard opened on the last hour would expand them for a
/// Prometheus that scrapes every second.
const MACROS: [(&str, &str); 4] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "15s"),
    ("$__range", "1h"),
    ("${__rate_interval}", "1m"),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn prometheus_bin() -> Option<PathBuf> {
    std::env::var_os("PARLEY_PROMETHEUS")
        .map(PathBuf::from)
        .or_else(|| find_on_path("prometheus"))
}

#[tokio::test]
async fn every_dashboard_query_and_alert_rule_returns_data() -> anyhow::Result<()> {
    let Some(bin) = prometheus_bin() else {
        ensure!(
            std::env::var_os("CI").is_none(),
            "prometheus not found (CI is set, so this test must run): apt-get install prometheus"
        );
        eprintln!(
            "SKIPPED observability test: no `prometheus` binary on PATH (apt-get install prometheus)"
        );
        return Ok(());
    };
    let root = repo_root();
    let rules = root.join("ops/prometheus/alerts.yml");
    if let Some(promtool) = find_on_path("promtool") {
        let out = Command::new(promtool)
            .args(["check", "rules"])
            .arg(&rules)
            .output()?;
        ensure!(
            out.status.success(),
            "promtool check rules: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Small limits so one test can cross each of them.
    let env = [
        ("PARLEY_MAX_CONNECTIONS", "3"),
        ("PARLEY_CONN_RATE", "1"),
        ("PARLEY_CONN_BURST", "15"),
    ];
    let stack = Stack::with(&[Directory, Persist, Delivery])
        .env(&env)
        .start()
        .await?;
    let mut targets: Vec<(&str, String)> = vec![("edge", stack.edges[0].addrs["http"].to_string())];
    for (job, w) in [
        ("directory", Directory),
        ("persist", Persist),
        ("delivery", Delivery),
    ] {
        let proc = stack.workers.get(&w).context("worker not started")?;
        targets.push((job, proc.addrs["ops"].to_string()));
    }
    let prom = Prometheus::start(&bin, &targets, &rules)?;
    load(&stack).await?;
    prom.ready().await?;

    let dashboards = dashboards(&root.join("grafana/dashboards"))?;
    ensure!(dashboards.len() >= 5, "expected the five dashboards");
    let rule_count = std::fs::read_to_string(&rules)?
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();

    // Scrapes every second, rules evaluated every second: wait until everything answers, then
    // report every query that still does not.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut failures = Vec::new();
        let mut checked = 0;
        for d in &dashboards {
            let vars = match prom.resolve_variables(d).await {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{}: {e:#}", d.name));
                    continue;
                }
            };
            for (panel, expr) in &d.queries {
                let expr = substitute(expr, &vars);
                checked += 1;
                match prom.query(&expr).await {
                    Ok(n) if n > 0 => {}
                    Ok(_) => failures.push(format!("{} / {panel}: no data for {expr}", d.name)),
                    Err(e) => failures.push(format!("{} / {panel}: {e:#} ({expr})", d.name)),
                }
            }
        }
        failures.extend(prom.check_rules(rule_count).await?);
        if failures.is_empty() {
            eprintln!("observability: {checked} panel queries and {rule_count} rules return data");
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{} of {checked} panel queries / {rule_count} rules failed:\n{}",
                failures.len(),
                failures.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

/// Traffic that makes every exported series exist: the happy path and each kind of refusal.
async fn load(stack: &Stack) -> anyhow::Result<()> {
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let login = |password: &str| json!({"username": alice.username, "password": password});
    api.call("POST", "/auth/login", None, Some(login("wrong password")))
        .await?;
    let (status, _) = api
        .call(
            "POST",
            "/auth/login",
            None,
            Some(login("correct horse battery")),
        )
        .await?;
    ensure!(status == 200, "login failed: {status}");
    let (status, _) = api
        .call("GET", "/users/me", Some("not-a-token"), None)
        .await?;
    ensure!(status == 401, "bad token answered {status}");

    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let mut first = None;
    for i in 0..5 {
        let id = a.send_message(conv, &format!("hello {i}")).await?;
        first.get_or_insert(id);
        b.recv_until(|v| v["type"] == "message:new" && v["message"]["id"] == id.to_string())
            .await?;
    }
    // Bob may not edit Alice's message: persist rejects the command.
    b.send(json!({"type": "message:edit", "id": Uuid::now_v7(), "conversationId": conv, "messageId": first, "body": "hijack"}))
        .await?;
    b.recv_type("error").await?;
    a.send_text("not json".into()).await?;
    a.recv_type("error").await?;
    let (status, _) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages?limit=50"),
            Some(&bob.token),
            None,
        )
        .await?;
    ensure!(status == 200, "history answered {status}");

    // A burst over the per-connection budget (burst 15) is partly refused.
    for i in 0..25 {
        b.send(json!({"type": "message:send", "id": Uuid::now_v7(), "conversationId": conv, "body": format!("burst {i}")}))
            .await?;
    }
    b.recv_until(|v| v["type"] == "error" && v["code"] == "rate_limited")
        .await?;

    // Two sockets are open; the cap is three: the fourth upgrade is refused.
    let c = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    ensure!(
        Ws::connect(&stack.edge_url(0), &bob.token).await.is_err(),
        "the connection over the cap was accepted"
    );
    drop(c);
    Ok(())
}

struct Dashboard {
    name: String,
    json: Value,
    /// (panel title, expression) of every target of every panel, rows included.
    queries: Vec<(String, String)>,
}

fn dashboards(dir: &Path) -> anyhow::Result<Vec<Dashboard>> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("parse {}", path.display()))?;
        let mut queries = Vec::new();
        collect_queries(&json["panels"], &mut queries);
        let name = json["title"].as_str().unwrap_or_default().to_string();
        ensure!(!queries.is_empty(), "{name} has no queries");
        out.push(Dashboard {
            name,
            json,
            queries,
        });
    }
    Ok(out)
}

fn collect_queries(panels: &Value, out: &mut Vec<(String, String)>) {
    for p in panels.as_array().into_iter().flatten() {
        let title = p["title"].as_str().unwrap_or_default();
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                out.push((title.to_string(), expr.to_string()));
            }
        }
        collect_queries(&p["panels"], out);
    }
}

fn substitute(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = expr.to_string();
    for (k, v) in MACROS {
        s = s.replace(k, v);
    }
    // Longest names first, so `$consumer_x` is not cut by `$consumer`.
    let mut names: Vec<_> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        s = s
            .replace(&format!("${{{name}}}"), &vars[name])
            .replace(&format!("${name}"), &vars[name]);
    }
    s
}

/// `a > 5` → `a > bool 5`: the signal of an alert, present whether or not it fires.
/// The comparison is the last one outside parentheses, braces and quotes.
fn signal_of(expr: &str) -> Option<String> {
    let b = expr.as_bytes();
    let (mut depth, mut quote, mut found, mut i) = (0i32, None::<u8>, None, 0);
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' | b'`' => quote = Some(c),
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'=' | b'!' | b'>' | b'<' if depth == 0 => {
                let len = if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                if len == 2 || c == b'>' || c == b'<' {
                    found = Some(i + len);
                    i += len;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let at = found?;
    Some(format!("{} bool{}", &expr[..at], &expr[at..]))
}

struct Prometheus {
    child: Child,
    base: String,
    http: reqwest::Client,
    /// Config and TSDB of this run only (never the distribution's /var/lib/prometheus).
    dir: PathBuf,
}

impl Prometheus {
    fn start(bin: &Path, targets: &[(&str, String)], rules: &Path) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("parley-prometheus-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        // Job names are those of ops/prometheus/prometheus.yml: panels filter on `job`.
        let mut config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{:?}]\nscrape_configs:\n",
            rules.display().to_string()
        );
        for (job, addr) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs: [{{targets: [{addr:?}]}}]\n"
            ));
        }
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let verbose = std::env::var_os("TEST_LOG").is_some();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            dir,
        })
    }

    async fn ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.http.get(format!("{}/-/ready", self.base)).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)?;
        let body: Value = self.http.get(url).send().await?.json().await?;
        ensure!(body["status"] == "success", "{path}: {body}");
        Ok(body["data"].clone())
    }

    /// Number of series an instant query returns.
    async fn query(&self, expr: &str) -> anyhow::Result<usize> {
        let data = self.get("/api/v1/query", &[("query", expr)]).await?;
        Ok(data["result"].as_array().map_or(0, Vec::len))
    }

    /// Resolve `label_values(metric, label)` variables like Grafana: ask Prometheus, require
    /// values, pick "All" (the allValue) when offered, else a consumer with traffic.
    async fn resolve_variables(&self, d: &Dashboard) -> anyhow::Result<BTreeMap<String, String>> {
        let mut vars = BTreeMap::new();
        for v in d.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = v["name"].as_str().context("variable name")?;
            let q = v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .context("variable query")?;
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .context("only label_values(metric, label) variables are supported")?;
            let (metric, label) = inner
                .rsplit_once(',')
                .context("label_values(metric, label)")?;
            let values = self
                .get(
                    &format!("/api/v1/label/{}/values", label.trim()),
                    &[("match[]", metric.trim())],
                )
                .await?;
            let values: Vec<&str> = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            ensure!(!values.is_empty(), "variable ${name} ({q}) has no values");
            let value = if v["includeAll"] == true {
                v["allValue"].as_str().unwrap_or(".*").to_string()
            } else if values.contains(&"persist") {
                "persist".to_string()
            } else {
                values[0].to_string()
            };
            vars.insert(name.to_string(), value);
        }
        Ok(vars)
    }

    /// Every rule loaded, evaluated with health ok, and its signal returning data.
    async fn check_rules(&self, expected: usize) -> anyhow::Result<Vec<String>> {
        let data = self.get("/api/v1/rules", &[]).await?;
        let mut failures = Vec::new();
        let mut seen = 0;
        for group in data["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                seen += 1;
                let name = rule["name"].as_str().unwrap_or_default();
                let expr = rule["query"].as_str().unwrap_or_default();
                if rule["health"] != "ok" {
                    failures.push(format!(
                        "rule {name}: health {} {}",
                        rule["health"], rule["lastError"]
                    ));
                    continue;
                }
                let Some(signal) = signal_of(expr) else {
                    failures.push(format!(
                        "rule {name}: not `<signal> <op> <threshold>`: {expr}"
                    ));
                    continue;
                };
                match self.query(&signal).await {
                    Ok(n) if n > 0 => {}
                    Ok(_) => failures.push(format!("rule {name}: no data for {signal}")),
                    Err(e) => failures.push(format!("rule {name}: {e:#}")),
                }
            }
        }
        if seen != expected {
            failures.push(format!("{seen} rules loaded, {expected} in alerts.yml"));
        }
        Ok(failures)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn signal_of_turns_the_last_top_level_comparison_into_bool() {
    assert_eq!(
        signal_of(r#"up{job=~"a|b"} == 0"#).as_deref(),
        Some(r#"up{job=~"a|b"} == bool 0"#)
    );
    assert_eq!(
        signal_of("sum(rate(x{a!=\"b\"}[5m])) / sum(y) > 0.01").as_deref(),
        Some("sum(rate(x{a!=\"b\"}[5m])) / sum(y) > bool 0.01")
    );
    assert_eq!(signal_of("max(x) < 1").as_deref(), Some("max(x) < bool 1"));
    assert_eq!(signal_of("sum(x)"), None);
}
