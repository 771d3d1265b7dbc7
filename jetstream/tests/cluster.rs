//! The nats-server configs in `jetstream/` parse, and the 3-node cluster they describe forms
//! and takes Parley's streams at R3 (`parley-jetstream apply` with replicas 3).
//!
//! The cluster test runs the real node configs on one host: ports and route URLs are
//! overridden on the command line (flags win over the file) and the store directory is
//! rewritten in a copy; everything else — JetStream, `sync_interval: always`, cluster name,
//! limits — comes from the files.

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

#[test]
fn every_config_parses() -> anyhow::Result<()> {
    let mut files = cluster_configs();
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
    store: PathBuf,
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
            store: store.clone(),
        };
        for (i, config) in cluster_configs().iter().enumerate() {
            let node_store = store.join(format!("node{}", i + 1));
            std::fs::create_dir_all(&node_store)?;
            // nats-server refuses `-sd` next to a `store_dir` in the file: point a copy of the
            // file at this run's directory instead.
            let text = std::fs::read_to_string(config)?;
            ensure!(
                text.contains("store_dir: /data"),
                "{}: store_dir",
                config.display()
            );
            let copy = node_store.join("node.conf");
            std::fs::write(
                &copy,
                text.replace(
                    "store_dir: /data",
                    &format!("store_dir: {:?}", node_store.join("js")),
                ),
            )?;
            let child = Command::new(nats_server())
                .arg("-c")
                .arg(&copy)
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
    let client = async_nats::connect(urls).await?;
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
