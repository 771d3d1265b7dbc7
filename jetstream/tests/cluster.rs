//! The nats-server configs in `jetstream/` parse, and the 3-node cluster they describe forms
//! and takes Parley's streams at R3 (`parley-jetstream apply` with replicas 3).
//!
//! The cluster test runs the real node configs on one host: ports and route URLs are
//! overridden on the command line (flags win over the file), and the store directory and the
//! route certificates' paths are rewritten in a copy laid out as in compose.yaml
//! (`<dir>/nats-auth.conf`, `<dir>/cluster/nodeN.conf`); everything else — JetStream,
//! `sync_interval: always`, cluster name, limits, NKey users, route TLS — comes from the files.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use parley_contracts::subjects::stream as streams;

fn nats_server() -> String {
    std::env::var("PARLEY_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn cluster_configs() -> Vec<PathBuf> {
    (1..=3)
        .map(|i| dir().join(format!("nats-cluster/node{i}.conf")))
        .collect()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where the node configs expect their route certificates (a volume in compose.yaml).
const TLS_DIR: &str = "/etc/nats/tls/";

/// Everything a node config needs around it, in a temporary directory: the auth include next
/// to `cluster/`, fresh NKeys (the server's environment), the route certificates.
struct Layout {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Layout {
    fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::copy(dir_of("nats-auth.conf"), dir.path().join("nats-auth.conf"))?;
        std::fs::create_dir_all(dir.path().join("cluster"))?;
        let keys = dir.path().join("keys");
        let roles = parley_jetstream::auth::roles();
        parley_jetstream::auth::generate_keys(&keys, &roles)?;
        let env = parley_jetstream::auth::read_public_keys(&keys)?;
        let certs = Command::new("sh")
            .arg(dir_of("nats-cluster/certs.sh"))
            .arg(dir.path().join("tls"))
            .env("PARLEY_CERT_EXTRA_SAN", "IP:127.0.0.1")
            .output()
            .context("run nats-cluster/certs.sh")?;
        ensure!(
            certs.status.success(),
            "certs.sh: {}",
            String::from_utf8_lossy(&certs.stderr)
        );
        Ok(Self { dir, env })
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    /// A copy of node config `i` (1-based) with its store in `store` and the certificates here.
    fn node(&self, i: usize, store: &Path) -> anyhow::Result<PathBuf> {
        let config = &cluster_configs()[i - 1];
        let text = std::fs::read_to_string(config)?;
        ensure!(
            text.contains("store_dir: /data") && text.contains(TLS_DIR),
            "{}: store_dir and route TLS",
            config.display()
        );
        let tls = format!("{}/", self.dir.path().join("tls").display());
        let copy = self.dir.path().join(format!("cluster/node{i}.conf"));
        std::fs::write(
            &copy,
            text.replace("store_dir: /data", &format!("store_dir: {store:?}"))
                .replace(TLS_DIR, &tls),
        )?;
        Ok(copy)
    }
}

fn dir_of(file: &str) -> PathBuf {
    dir().join(file)
}

#[test]
fn every_config_parses() -> anyhow::Result<()> {
    let layout = Layout::new()?;
    let store = layout.dir.path().join("store");
    let mut files = (1..=3)
        .map(|i| layout.node(i, &store))
        .collect::<anyhow::Result<Vec<_>>>()?;
    files.push(dir().join("nats-dev.conf"));
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        ensure!(
            text.contains("sync_interval: always"),
            "{}: JetStream must fsync every write",
            file.display()
        );
        let out = Command::new(nats_server())
            .arg("-t")
            .arg("-c")
            .arg(&file)
            .envs(layout.env.iter().cloned())
            .output()
            .context("run nats-server -t (PARLEY_NATS_SERVER)")?;
        ensure!(
            out.status.success(),
            "{}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The three nodes, killed and their stores removed on drop.
struct Cluster {
    nodes: Vec<Child>,
    client_ports: Vec<u16>,
    route_ports: Vec<u16>,
    store: PathBuf,
    layout: Layout,
}

impl Cluster {
    fn start() -> anyhow::Result<Self> {
        let store = std::env::temp_dir().join(format!(
            "parley-nats-cluster-{}-{}",
            std::process::id(),
            free_port()?
        ));
        let client_ports = (0..3).map(|_| free_port()).collect::<Result<Vec<_>, _>>()?;
        let route_ports = (0..3).map(|_| free_port()).collect::<Result<Vec<_>, _>>()?;
        let routes = route_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            nodes: Vec::new(),
            client_ports: client_ports.clone(),
            route_ports: route_ports.clone(),
            store: store.clone(),
            layout: Layout::new()?,
        };
        for i in 0..3 {
            let node_store = store.join(format!("node{}", i + 1));
            std::fs::create_dir_all(&node_store)?;
            // nats-server refuses `-sd` next to a `store_dir` in the file: point a copy of the
            // file at this run's directory instead.
            let copy = cluster.layout.node(i + 1, &node_store.join("js"))?;
            let child = Command::new(nats_server())
                .arg("-c")
                .arg(&copy)
                .envs(cluster.layout.env.iter().cloned())
                .args(["-a", "127.0.0.1", "-p", &client_ports[i].to_string()])
                .args(["-m", &free_port()?.to_string()])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", route_ports[i])])
                .args(["--routes", &routes])
                .stdout(Stdio::null())
                .stderr(if std::env::var_os("TEST_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .spawn()
                .context("start nats-server")?;
            cluster.nodes.push(child);
        }
        Ok(cluster)
    }

    fn url(&self) -> String {
        self.client_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

#[tokio::test]
async fn the_three_node_cluster_takes_streams_at_r3() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    // Until the nodes have met and elected a JetStream meta leader, apply fails: retry.
    let deadline = Instant::now() + Duration::from_secs(30);
    let output = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_parley-jetstream"))
            .env("PARLEY_NATS_URL", cluster.url())
            .env(
                "PARLEY_NATS_CREDS",
                parley_jetstream::auth::seed_file(&cluster.layout.keys(), "parley-jetstream"),
            )
            .env("PARLEY_STREAM_REPLICAS", "3")
            .arg("apply")
            .output()?;
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        ensure!(
            Instant::now() < deadline,
            "apply never succeeded: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    ensure!(output.contains(streams::COMMANDS), "apply output: {output}");

    let urls: Vec<String> = cluster.url().split(',').map(String::from).collect();
    let seed = parley_jetstream::auth::seed_file(&cluster.layout.keys(), "parley-jetstream");
    let client = parley_jetstream::auth::connect_options(Some(&seed), "parley-jetstream")?
        .connect(urls)
        .await?;
    let js = async_nats::jetstream::new(client);
    for name in [streams::COMMANDS, streams::EVENTS] {
        let info = js.get_stream(name).await?.info().await?.clone();
        ensure!(
            info.config.num_replicas == 3,
            "{name}: {} replicas",
            info.config.num_replicas
        );
        let peers = info.cluster.map(|c| c.replicas.len()).unwrap_or(0);
        ensure!(
            peers == 2,
            "{name}: leader plus {peers} replicas, expected 2"
        );
    }
    Ok(())
}

/// What a TLS client presenting `cert` (none: no certificate) reads from a route port.
fn route_hello(port: u16, ca: &Path, cert: Option<(&Path, &Path)>) -> anyhow::Result<String> {
    let mut cmd = format!(
        "sleep 1 | openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:{port} -CAfile {}",
        ca.display()
    );
    if let Some((c, k)) = cert {
        cmd.push_str(&format!(" -cert {} -key {}", c.display(), k.display()));
    }
    let out = Command::new("sh").arg("-c").arg(cmd).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Routes speak only mutual TLS: a peer in clear text is told nothing, a TLS peer without a
/// certificate or with one from another CA gets no route, a node's certificate gets one.
#[test]
fn cluster_routes_require_mutual_tls() -> anyhow::Result<()> {
    use std::io::Read;
    let cluster = Cluster::start()?;
    let port = cluster.route_ports[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut plain = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(e) => {
                ensure!(Instant::now() < deadline, "route port never opened: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    plain.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut clear = Vec::new();
    let _ = plain.read_to_end(&mut clear);
    ensure!(
        !String::from_utf8_lossy(&clear).contains("INFO"),
        "a route port spoke in clear text"
    );

    let tls = cluster.layout.dir.path().join("tls");
    let node2 = (tls.join("nats2.pem"), tls.join("nats2-key.pem"));
    let ok = route_hello(port, &tls.join("ca.pem"), Some((&node2.0, &node2.1)))?;
    ensure!(
        ok.starts_with("INFO ") && ok.contains("\"server_name\":\"nats1\""),
        "a node's certificate got no route: {ok:?}"
    );
    let anonymous = route_hello(port, &tls.join("ca.pem"), None)?;
    ensure!(
        !anonymous.contains("INFO"),
        "a peer without a certificate got: {anonymous:?}"
    );

    let stranger = cluster.layout.dir.path().join("stranger");
    let made = Command::new("sh")
        .arg(dir_of("nats-cluster/certs.sh"))
        .arg(&stranger)
        .arg("nats2")
        .output()?;
    ensure!(made.status.success(), "certs.sh for another CA");
    let forged = route_hello(
        port,
        &tls.join("ca.pem"),
        Some((&stranger.join("nats2.pem"), &stranger.join("nats2-key.pem"))),
    )?;
    ensure!(
        !forged.contains("INFO"),
        "a certificate of another CA got: {forged:?}"
    );
    Ok(())
}
