//! Dependency outages on demand: a TCP proxy in front of Postgres or Redis that a test cuts
//! (every open connection dropped, new ones refused, as when the server restarts) and restores,
//! and a poll of a process's `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct TcpProxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listen on a free local port and forward to the host:port of `upstream_url`
    /// (`postgres://…`, `redis://…`). Needs a multi-threaded test runtime when the proxied
    /// process is started with a blocking call.
    pub async fn start(upstream_url: &str) -> anyhow::Result<Self> {
        let upstream = authority(upstream_url)
            .with_context(|| format!("no host in {upstream_url}"))?
            .1
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let (u, c) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                if let Ok(mut set) = c.lock() {
                    set.spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Ok(Self {
            addr,
            up,
            conns,
            accept,
        })
    }

    /// `url` with its host:port replaced by this proxy's address.
    pub fn url(&self, url: &str) -> String {
        match authority(url) {
            Some((start, hostport)) => {
                let at = start + url[start..].find(hostport).unwrap_or(0);
                format!("{}{}{}", &url[..at], self.addr, &url[at + hostport.len()..])
            }
            None => url.to_string(),
        }
    }

    /// The outage: drop every open connection and refuse new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        if let Ok(mut set) = self.conns.lock() {
            set.abort_all();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        if let Ok(mut set) = self.conns.lock() {
            set.abort_all();
        }
    }
}

/// Where the host:port of `scheme://[user@]host:port/...` starts, and the host:port.
fn authority(url: &str) -> Option<(usize, &str)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let host_at = auth.rfind('@').map(|i| i + 1).unwrap_or(0);
    let hostport = &auth[host_at..];
    (!hostport.is_empty()).then_some((start + host_at, hostport))
}

/// Poll `GET {base}/readyz` until its status is 200 (`ready`) or not (`!ready`); returns the
/// body of the last answer. Fails after `within`.
pub async fn await_readyz(base: &str, ready: bool, within: Duration) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let deadline = tokio::time::Instant::now() + within;
    let mut last = String::new();
    loop {
        if let Ok(resp) = http.get(format!("{base}/readyz")).send().await {
            let ok = resp.status() == 200;
            last = format!(
                "{} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
            if ok == ready {
                return Ok(last);
            }
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{base}/readyz never became {} (last: {last})",
            if ready { "ready" } else { "not ready" }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn authority_finds_host_and_port() {
        let url = "postgres://postgres@127.0.0.1:5432/parley_test_1";
        assert_eq!(super::authority(url), Some((20, "127.0.0.1:5432")));
        assert_eq!(
            super::authority("redis://127.0.0.1:6379"),
            Some((8, "127.0.0.1:6379"))
        );
        assert_eq!(super::authority("nonsense"), None);
    }
}
