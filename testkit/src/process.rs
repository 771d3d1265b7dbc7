//! Parley binaries as real processes, wired to one test's NATS, database and Redis prefix.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;

use crate::services::{Keys, NatsServer, RedisPrefix, TestDb};
use crate::workers::Worker;

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PARLEY_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test-binary> → target/<profile>
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A spawned binary. Killed (SIGKILL) on drop unless stopped before.
pub struct Proc {
    pub name: String,
    child: Child,
    /// Addresses it announced on stdout, by kind (`http`, `ops`).
    pub addrs: HashMap<String, SocketAddr>,
}

impl Proc {
    pub fn spawn(name: &str, env: &[(String, String)], announce: &[&str]) -> anyhow::Result<Self> {
        let verbose = std::env::var_os("TEST_LOG").is_some();
        let stderr = if verbose {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        Self::spawn_to(name, env, announce, stderr)
    }

    /// Like [`Proc::spawn`], with the log (stderr) written to `log` for the test to read.
    pub fn spawn_logged(
        name: &str,
        env: &[(String, String)],
        announce: &[&str],
        log: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let file = std::fs::File::create(log).with_context(|| format!("create {log:?}"))?;
        Self::spawn_to(name, env, announce, Stdio::from(file))
    }

    fn spawn_to(
        name: &str,
        env: &[(String, String)],
        announce: &[&str],
        stderr: Stdio,
    ) -> anyhow::Result<Self> {
        let path = bin_dir().join(name);
        anyhow::ensure!(
            path.exists(),
            "{} not built: run `cargo build --workspace --bins` first",
            path.display()
        );
        let verbose = std::env::var_os("TEST_LOG").is_some();
        let mut cmd = Command::new(&path);
        let env = with_creds(name, env);
        // A test may ask for its own log level (e.g. to read debug lines); else quiet.
        if !env.iter().any(|(k, _)| k == "PARLEY_LOG") {
            cmd.env("PARLEY_LOG", if verbose { "info" } else { "warn" });
        }
        let mut child = cmd
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawn {name}"))?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("parley: listening ") {
                    let mut kind = None;
                    let mut addr = None;
                    for part in rest.split_whitespace() {
                        if let Some(k) = part.strip_prefix("kind=") {
                            kind = Some(k.to_string());
                        }
                        if let Some(a) = part.strip_prefix("addr=") {
                            addr = a.parse::<SocketAddr>().ok();
                        }
                    }
                    if let (Some(k), Some(a)) = (kind, addr) {
                        let _ = tx.send((k, a));
                    }
                }
            }
        });
        let mut addrs = HashMap::new();
        for _ in announce {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok((k, a)) => {
                    addrs.insert(k, a);
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    anyhow::bail!(
                        "{name} did not announce its listeners (exit: {status:?}); rerun with TEST_LOG=1"
                    );
                }
            }
        }
        Ok(Self {
            name: name.to_string(),
            child,
            addrs,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no drain, no goodbye.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully in time.
    pub fn terminate(mut self, within: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Names the directory of a test NATS server's seeds in a stack's environment; [`Proc`] turns
/// it into `PARLEY_NATS_CREDS` with the seed of the binary it starts (its own role), so the
/// binaries never see the directory.
pub const NATS_KEYS_ENV: &str = "PARLEY_TESTKIT_NATS_KEYS";

fn with_creds(name: &str, env: &[(String, String)]) -> Vec<(String, String)> {
    let keys = env.iter().rev().find(|(k, _)| k == NATS_KEYS_ENV).cloned();
    let mut out: Vec<_> = env
        .iter()
        .filter(|(k, _)| k != NATS_KEYS_ENV)
        .cloned()
        .collect();
    if let Some((_, dir)) = keys
        && !out.iter().any(|(k, _)| k == "PARLEY_NATS_CREDS")
    {
        let seed = parley_jetstream::auth::seed_file(std::path::Path::new(&dir), name);
        out.push(("PARLEY_NATS_CREDS".into(), seed.display().to_string()));
    }
    out
}

/// Provision the streams and durables as deployments do: `parley-jetstream apply` with its
/// own key (binaries may only read stream configs).
fn provision(nats: &NatsServer) -> anyhow::Result<()> {
    let out = Command::new(bin_dir().join("parley-jetstream"))
        .env("PARLEY_NATS_URL", nats.url())
        .env("PARLEY_NATS_CREDS", nats.creds("parley-jetstream"))
        .arg("apply")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("run parley-jetstream apply (built with `cargo build --workspace --bins`?)")?;
    anyhow::ensure!(
        out.status.success(),
        "parley-jetstream apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The Redis tests use: `PARLEY_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("PARLEY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// What a test's stack runs: NATS, a fresh database, a Redis prefix, the edge(s) always, and
/// only the workers the test names. Start with [`Stack::with`].
#[derive(Debug, Clone)]
#[must_use = "a stack runs once `start` is awaited"]
pub struct StackBuilder {
    workers: BTreeSet<Worker>,
    env: Vec<(String, String)>,
    edges: usize,
}

impl StackBuilder {
    /// Extra environment for every process of the stack.
    pub fn env(mut self, vars: &[(&str, &str)]) -> Self {
        self.env
            .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// `n` edges instead of one.
    pub fn edges(mut self, n: usize) -> Self {
        self.edges = n.max(1);
        self
    }

    /// Start the workers (in `binaries.txt`'s order), then the edges.
    pub async fn start(self) -> anyhow::Result<Stack> {
        let nats = NatsServer::start()?;
        provision(&nats)?;
        let db = TestDb::create().await?;
        let keys = Keys::generate()?;
        let redis = RedisPrefix::new("parley_test");
        let redis_prefix = redis.prefix.clone();
        let mut stack = Stack {
            nats,
            db,
            keys,
            redis_prefix,
            workers: BTreeMap::new(),
            edges: Vec::new(),
            env: self.env,
            _redis: redis,
        };
        for w in self.workers {
            let p = stack.spawn_worker(w)?;
            stack.workers.insert(w, p);
        }
        for _ in 0..self.edges {
            let edge = stack.spawn_edge()?;
            stack.edges.push(edge);
        }
        Ok(stack)
    }
}

/// NATS + a fresh database + a Redis prefix + the workers a test asked for + edge(s).
pub struct Stack {
    pub nats: NatsServer,
    pub db: TestDb,
    pub keys: Keys,
    pub redis_prefix: String,
    /// The stack's own instance of each worker it runs; a test may kill, take or replace one.
    pub workers: BTreeMap<Worker, Proc>,
    pub edges: Vec<Proc>,
    env: Vec<(String, String)>,
    /// Deletes the prefix's keys when the stack goes.
    _redis: RedisPrefix,
}

impl Stack {
    /// A stack of one edge and `workers`. Each test names what its journey needs: the
    /// directory for accounts and membership, persist for conversations and messages,
    /// delivery for anything pushed to a socket, receipts for watermarks and unread counts,
    /// presence for who is online.
    pub fn with(workers: &[Worker]) -> StackBuilder {
        StackBuilder {
            workers: workers.iter().copied().collect(),
            env: Vec::new(),
            edges: 1,
        }
    }

    /// The environment every process of this stack gets ([`Proc`] adds each binary's own
    /// NATS seed from the key directory named here).
    pub fn env(&self) -> Vec<(String, String)> {
        let redis = redis_url();
        let mut env = vec![
            ("PARLEY_NATS_URL".into(), self.nats.url()),
            (
                NATS_KEYS_ENV.into(),
                self.nats.keys_dir().display().to_string(),
            ),
            ("PARLEY_DATABASE_URL".into(), self.db.url.clone()),
            ("PARLEY_REDIS_URL".into(), redis),
            ("PARLEY_REDIS_PREFIX".into(), self.redis_prefix.clone()),
            (
                "PARLEY_JWT_PRIVATE_KEY_FILE".into(),
                self.keys.private.display().to_string(),
            ),
            (
                "PARLEY_JWT_PUBLIC_KEY_FILE".into(),
                self.keys.public.display().to_string(),
            ),
            ("PARLEY_OPS_LISTEN".into(), "127.0.0.1:0".into()),
            ("PARLEY_LISTEN".into(), "127.0.0.1:0".into()),
            ("PARLEY_DRAIN_SECONDS".into(), "3".into()),
        ];
        // Every test client comes from 127.0.0.1: per-address budgets are out of the way
        // unless a test sets its own (later entries win).
        for var in [
            "PARLEY_ADDR_ACCEPT_RATE",
            "PARLEY_ADDR_ACCEPT_BURST",
            "PARLEY_ADDR_REST_RATE",
            "PARLEY_ADDR_REST_BURST",
            "PARLEY_ADDR_AUTH_RATE",
            "PARLEY_ADDR_AUTH_BURST",
        ] {
            env.push((var.into(), "1000000".into()));
        }
        env.extend(self.env.iter().cloned());
        env
    }

    /// Start one more instance of a worker (also used to restart after a kill).
    pub fn spawn_worker(&self, w: Worker) -> anyhow::Result<Proc> {
        Proc::spawn(w.binary(), &self.env(), &["ops"])
    }

    /// One more instance of a worker with `extra` environment on top of the stack's (e.g. a
    /// database URL through a proxy the test can cut).
    pub fn spawn_worker_with(&self, w: Worker, extra: &[(String, String)]) -> anyhow::Result<Proc> {
        let mut env = self.env();
        env.extend(extra.iter().cloned());
        Proc::spawn(w.binary(), &env, &["ops"])
    }

    /// Base URL of the ops listener of the stack's own instance of `w`, if it runs one.
    pub fn ops_url(&self, w: Worker) -> Option<String> {
        self.workers
            .get(&w)
            .map(|p| format!("http://{}", p.addrs["ops"]))
    }

    pub fn spawn_edge(&self) -> anyhow::Result<Proc> {
        Proc::spawn("parley-edge", &self.env(), &["http"])
    }

    /// Base URL of edge `i`.
    pub fn edge_url(&self, i: usize) -> String {
        format!("http://{}", self.edges[i].addrs["http"])
    }

    pub fn api(&self) -> crate::Api {
        crate::Api::new(&self.edge_url(0))
    }
}
