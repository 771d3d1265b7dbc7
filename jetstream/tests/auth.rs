//! NATS users and permissions against a real nats-server running the committed dev config
//! (`nats-dev.conf`, which includes the generated `nats-auth.conf`), started as `run.sh` starts
//! it: fresh keys from `parley-jetstream auth keys`, public halves in the environment.
//!
//! A client without a key is refused, and each binary's key is refused what its job does not
//! need (the attacks of issue 17: reading other users' frames and events, forging commands,
//! pushing frames to sockets, calling services) while it keeps what its job needs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};
use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use parley_contracts::subjects::{self, consumer as cons, stream as st, svc};
use parley_jetstream::auth;
use tokio::sync::mpsc;

struct Server {
    child: Child,
    port: u16,
    keys: tempfile::TempDir,
    _store: tempfile::TempDir,
}

impl Server {
    fn start() -> anyhow::Result<Self> {
        let keys = tempfile::tempdir()?;
        let store = tempfile::tempdir()?;
        auth::generate_keys(keys.path(), &auth::roles())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let bin = std::env::var("PARLEY_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&bin)
            .arg("-c")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("nats-dev.conf"))
            .args(["-p", &port.to_string(), "-sd"])
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
        let server = Self {
            child,
            port,
            keys,
            _store: store,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn seed(&self, role: &str) -> PathBuf {
        auth::seed_file(self.keys.path(), role)
    }

    /// A client with `role`'s key, as the binary connects, and the server errors it is sent.
    async fn client(&self, role: &str) -> anyhow::Result<Probe> {
        let (tx, errors) = mpsc::unbounded_channel();
        let client = auth::connect_options(Some(&self.seed(role)), role)?
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        let _ = tx.send(e.to_string());
                    }
                }
            })
            .connect(self.url())
            .await?;
        Ok(Probe {
            role: role.to_string(),
            client,
            errors,
        })
    }

    /// Provision streams and durables as deployments do (the provisioner's own key); returns
    /// what it printed.
    fn apply(&self) -> anyhow::Result<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_parley-jetstream"))
            .env("PARLEY_NATS_URL", self.url())
            .env("PARLEY_NATS_CREDS", self.seed("parley-jetstream"))
            .arg("apply")
            .output()?;
        ensure!(
            out.status.success(),
            "apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Probe {
    role: String,
    client: async_nats::Client,
    errors: mpsc::UnboundedReceiver<String>,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Pub,
    Sub,
}

/// An operation on a subject and whether the role may do it.
type Check<'a> = (Op, &'a str, bool);

impl Probe {
    /// Try `op` on `subject`; whether the server refused it (a permissions violation naming it).
    async fn refused(&mut self, op: Op, subject: &str) -> anyhow::Result<bool> {
        while self.errors.try_recv().is_ok() {}
        let _sub = match op {
            Op::Pub => {
                self.client.publish(subject.to_string(), "x".into()).await?;
                None
            }
            Op::Sub => Some(self.client.subscribe(subject.to_string()).await?),
        };
        self.client.flush().await?;
        // The server answers a refused operation before the flush's PONG; allow the event
        // callback a moment beyond that.
        let wait = tokio::time::sleep(Duration::from_millis(300));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                e = self.errors.recv() => match e {
                    Some(e) if e.contains("Permissions Violation") && e.contains(subject) => return Ok(true),
                    Some(_) => {}
                    None => return Ok(false),
                },
                _ = &mut wait => return Ok(false),
            }
        }
    }

    async fn expect(&mut self, op: Op, subject: &str, allowed: bool) -> anyhow::Result<()> {
        let refused = self.refused(op, subject).await?;
        ensure!(
            refused != allowed,
            "{}: {op:?} {subject} was {}",
            self.role,
            if refused { "refused" } else { "allowed" }
        );
        Ok(())
    }
}

#[tokio::test]
async fn a_client_without_a_key_or_with_an_unknown_key_is_refused() -> anyhow::Result<()> {
    let server = Server::start()?;
    let anonymous = async_nats::connect(server.url()).await;
    ensure!(anonymous.is_err(), "a client without a key was let in");
    let stranger = nkeys::KeyPair::new_user().seed()?;
    let unknown = async_nats::ConnectOptions::with_nkey(stranger)
        .connect(server.url())
        .await;
    ensure!(unknown.is_err(), "a client with an unknown key was let in");
    // A key on file works (so the refusals above are about the key).
    server.client("parley-edge").await?;
    Ok(())
}

/// Each role against what it must not do, and some of what it must do.
#[tokio::test]
async fn each_binary_key_is_refused_what_its_job_does_not_need() -> anyhow::Result<()> {
    use Op::{Pub, Sub};
    let server = Server::start()?;
    let conv = "0190f1c2-0000-7000-8000-000000000001";
    let user = "0190f1c2-0000-7000-8000-000000000002";
    let cmd_msg = format!("chat.cmd.msg.{conv}");
    let evt_msg = format!("chat.evt.msg.{conv}");
    let user_subject = format!("chat.user.{user}");
    let deny_everyone = [
        (Pub, "$JS.API.STREAM.DELETE.EVENTS"),
        (Pub, "$JS.API.STREAM.PURGE.EVENTS"),
        (Sub, ">"),
        (Sub, "_INBOX.>"),
    ];
    let matrix: Vec<(&str, Vec<Check>)> = vec![
        (
            "parley-edge",
            vec![
                (Sub, subjects::EVENTS_ALL, false),
                (Sub, subjects::EVT_MSG_ALL, false),
                (Pub, &evt_msg, false),
                (Pub, &user_subject, false),
                (Pub, svc::PRESENCE_AUDIENCE, false),
                (Pub, "$JS.API.STREAM.CREATE.EVENTS", false),
                (Pub, "$JS.API.STREAM.UPDATE.EVENTS", false),
                (Pub, &cmd_msg, true),
                (Sub, &user_subject, true),
                (Sub, subjects::EVT_MEMBER_ALL, true),
                (Pub, svc::LOGIN, true),
            ],
        ),
        (
            "parley-persist",
            vec![
                (Pub, &cmd_msg, false),
                (Pub, svc::LOGIN, false),
                (Sub, subjects::USER_ALL, false),
                (Sub, subjects::CMD_MSG_ALL, false),
                (Pub, &evt_msg, true),
                (Pub, &user_subject, true),
                (Sub, svc::HISTORY_ALL, true),
            ],
        ),
        (
            "parley-delivery",
            vec![
                (Pub, &cmd_msg, false),
                (Pub, &evt_msg, false),
                (Pub, svc::LOGIN, false),
                (Pub, &user_subject, true),
                (Sub, subjects::LIVE_ALL, true),
            ],
        ),
        (
            "parley-receipts",
            vec![
                (Pub, &cmd_msg, false),
                (Pub, &evt_msg, false),
                (Pub, &user_subject, false),
                (Sub, subjects::USER_ALL, false),
                (Pub, "chat.evt.receipt.x", true),
            ],
        ),
        (
            "parley-presence",
            vec![
                (Pub, &user_subject, false),
                (Pub, &evt_msg, false),
                (Sub, subjects::USER_ALL, false),
                (Sub, svc::DIRECTORY_ALL, false),
                (Pub, "chat.evt.presence.x", true),
            ],
        ),
        (
            "parley-directory",
            vec![
                (Pub, &cmd_msg, false),
                (Pub, &user_subject, false),
                (Pub, &evt_msg, false),
                (Sub, subjects::USER_ALL, false),
                (Sub, svc::DIRECTORY_ALL, true),
            ],
        ),
        (
            "parley-jetstream",
            vec![
                (Pub, &cmd_msg, false),
                (Pub, &user_subject, false),
                (Pub, "$JS.API.STREAM.CREATE.OTHER", false),
                (Pub, "$JS.API.STREAM.UPDATE.EVENTS", true),
            ],
        ),
        (
            "parley-bench",
            vec![
                (Pub, &cmd_msg, false),
                (Sub, subjects::USER_ALL, false),
                (Pub, subjects::BENCH_ECHO, true),
            ],
        ),
        (
            auth::INTEGRATOR,
            vec![
                (Sub, subjects::EVENTS_ALL, false),
                (Sub, subjects::USER_ALL, false),
                (Pub, &evt_msg, false),
                (Pub, &cmd_msg, false),
                (Pub, svc::LOGIN, false),
                (Pub, "$JS.API.CONSUMER.MSG.NEXT.EVENTS.delivery", false),
                (Pub, "$JS.API.CONSUMER.CREATE.EVENTS.delivery", false),
                (Pub, "$JS.API.CONSUMER.CREATE.EVENTS.mine", false),
                (
                    Pub,
                    "$JS.API.CONSUMER.DELETE.EVENTS.delivery-presence",
                    false,
                ),
                (Pub, "$JS.API.CONSUMER.MSG.NEXT.COMMANDS.persist", false),
                (Pub, "$JS.API.STREAM.INFO.COMMANDS", false),
                (Pub, "$JS.API.CONSUMER.MSG.NEXT.EVENTS.integrator", true),
            ],
        ),
    ];
    for (role, checks) in matrix {
        let mut probe = server.client(role).await?;
        for (op, subject) in deny_everyone {
            probe.expect(op, subject, false).await?;
        }
        // Nobody reads the replies another role asked for.
        let other = if role == "parley-edge" {
            "parley-directory"
        } else {
            "parley-edge"
        };
        probe
            .expect(Sub, &format!("{}.>", auth::inbox_prefix(other)), false)
            .await?;
        probe
            .expect(Sub, &format!("{}.x", auth::inbox_prefix(role)), true)
            .await?;
        for (op, subject, allowed) in checks {
            probe.expect(op, subject, allowed).await?;
        }
    }
    Ok(())
}

/// The integrator's key reads EVENTS through its durable and defines no consumer; a binary
/// cannot provision streams (only `parley-jetstream` can).
#[tokio::test]
async fn integrators_read_events_and_only_the_provisioner_defines_streams() -> anyhow::Result<()> {
    let server = Server::start()?;
    // A refused API request is never answered: give up on it soon.
    let js = |client| {
        jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(1))
            .build(client)
    };
    let edge = js(server.client("parley-edge").await?.client);
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        edge.create_stream(jetstream::stream::Config {
            name: st::EVENTS.into(),
            subjects: vec![subjects::EVENTS_ALL.into()],
            ..Default::default()
        }),
    )
    .await;
    ensure!(!matches!(refused, Ok(Ok(_))), "the edge created a stream");
    server.apply()?;
    // Provisioned streams read as defined: the binaries' start-up check, which may not
    // change them, passes.
    let again = server.apply()?;
    ensure!(
        !again.contains("updated"),
        "drift right after apply: {again}"
    );

    let persist = jetstream::new(server.client("parley-persist").await?.client);
    let subject = "chat.evt.msg.0190f1c2-0000-7000-8000-000000000003";
    persist
        .publish(subject, "event".into())
        .await?
        .await
        .context("persist stores an event")?;

    let integrator = js(server.client(auth::INTEGRATOR).await?.client);
    let stream = integrator.get_stream(st::EVENTS).await?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(cons::INTEGRATOR)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut batch = consumer.fetch().max_messages(1).messages().await?;
    let msg = tokio::time::timeout(Duration::from_secs(5), batch.next())
        .await?
        .context("no event")?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(msg.subject.as_str() == subject && msg.payload.as_ref() == b"event");
    msg.double_ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // It defines no consumer: neither one of its own (a push consumer could aim EVENTS at
    // any user's sockets) nor Parley's.
    for durable in ["pusher", cons::DELIVERY] {
        let made = stream
            .create_consumer(pull::Config {
                durable_name: Some(durable.into()),
                filter_subject: subjects::EVT_MSG_ALL.into(),
                ..Default::default()
            })
            .await;
        ensure!(made.is_err(), "an integrator defined consumer {durable}");
    }
    let pushed = stream
        .create_consumer(jetstream::consumer::push::Config {
            durable_name: Some("pusher".into()),
            deliver_subject: "chat.user.0190f1c2-0000-7000-8000-000000000004".into(),
            ..Default::default()
        })
        .await;
    ensure!(
        pushed.is_err(),
        "an integrator's consumer pushes to chat.user.<id>"
    );
    Ok(())
}
