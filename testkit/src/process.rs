//! Parley binaries as real processes, wired to one test's NATS, database and Redis prefix.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;

use crate::services::{Keys, NatsServer, TestDb};

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

#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Extra environment for every process.
    pub env: Vec<(String, String)>,
    /// Number of edges (default 1).
    pub edges: usize,
}

/// NATS + a fresh database + Redis prefix + every worker and edge(s).
pub struct Stack {
    pub nats: NatsServer,
    pub db: TestDb,
    pub keys: Keys,
    pub redis_prefix: String,
    pub directory: Option<Proc>,
    pub persist: Option<Proc>,
    pub delivery: Option<Proc>,
    pub receipts: Option<Proc>,
    pub presence: Option<Proc>,
    pub edges: Vec<Proc>,
    opts: StackOptions,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(opts: StackOptions) -> anyhow::Result<Self> {
        let nats = NatsServer::start()?;
        provision(&nats)?;
        let db = TestDb::create().await?;
        let keys = Keys::generate()?;
        let redis_prefix = format!("parley_test:{}:", uuid::Uuid::now_v7().simple());
        let mut stack = Self {
            nats,
            db,
            keys,
            redis_prefix,
            directory: None,
            persist: None,
            delivery: None,
            receipts: None,
            presence: None,
            edges: Vec::new(),
            opts,
        };
        stack.directory = Some(stack.spawn_worker("parley-directory")?);
        stack.persist = Some(stack.spawn_worker("parley-persist")?);
        stack.delivery = Some(stack.spawn_worker("parley-delivery")?);
        stack.receipts = Some(stack.spawn_worker("parley-receipts")?);
        stack.presence = Some(stack.spawn_worker("parley-presence")?);
        for _ in 0..stack.opts.edges.max(1) {
            let edge = stack.spawn_edge()?;
            stack.edges.push(edge);
        }
        Ok(stack)
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
        env.extend(self.opts.env.iter().cloned());
        env
    }

    /// Start one more instance of a worker (also used to restart after a kill).
    pub fn spawn_worker(&self, name: &str) -> anyhow::Result<Proc> {
        Proc::spawn(name, &self.env(), &["ops"])
    }

    /// One more instance of a worker with `extra` environment on top of the stack's (e.g. a
    /// database URL through a proxy the test can cut).
    pub fn spawn_worker_with(
        &self,
        name: &str,
        extra: &[(String, String)],
    ) -> anyhow::Result<Proc> {
        let mut env = self.env();
        env.extend(extra.iter().cloned());
        Proc::spawn(name, &env, &["ops"])
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
