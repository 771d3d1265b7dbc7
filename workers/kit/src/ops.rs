//! `/healthz`, `/readyz` and `/metrics`, served by every binary.
//!
//! Liveness says the process runs. Readiness says it should get work: not draining and every
//! dependency registered with [`Readiness::check`] answering.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

#[derive(Clone)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
    checks: Arc<std::sync::Mutex<Vec<(&'static str, Check)>>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    pub fn new() -> Self {
        Self {
            draining: Arc::new(AtomicBool::new(false)),
            checks: Arc::default(),
        }
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Register a dependency check run on every `/readyz`.
    pub fn check<F, Fut>(&self, name: &'static str, f: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let check: Check = Arc::new(move || Box::pin(f()));
        if let Ok(mut checks) = self.checks.lock() {
            checks.push((name, check));
        }
    }

    pub async fn status(&self) -> Result<(), String> {
        if self.is_draining() {
            return Err("draining".into());
        }
        let checks: Vec<_> = self.checks.lock().map(|c| c.clone()).unwrap_or_default();
        for (name, check) in checks {
            let res = tokio::time::timeout(std::time::Duration::from_secs(2), check()).await;
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("{name}: {e}")),
                Err(_) => return Err(format!("{name}: timed out")),
            }
        }
        Ok(())
    }
}

/// Install the process-wide Prometheus recorder (once) and return its handle.
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("_size".into()),
                        &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0],
                    )
                });
            match builder {
                Ok(b) => match b.install_recorder() {
                    Ok(h) => h,
                    // A recorder already installed (e.g. two builds in one test process):
                    // export from a fresh, unregistered one rather than fail.
                    Err(_) => PrometheusBuilder::new().build_recorder().handle(),
                },
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    metrics: PrometheusHandle,
}

/// The ops routes, to serve alone or merge into a binary's own router.
pub fn router(readiness: Readiness, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState { readiness, metrics })
}

async fn readyz(State(s): State<OpsState>) -> (StatusCode, String) {
    match s.readiness.status().await {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")),
    }
}

async fn render_metrics(State(s): State<OpsState>) -> String {
    s.metrics.render()
}

/// Bind the ops listener; returns the bound address and the server task.
pub async fn serve(
    addr: SocketAddr,
    readiness: Readiness,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(readiness, metrics);
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = r {
            tracing::error!(%error, "ops listener failed");
        }
    });
    Ok((local, task))
}

/// Readiness check: the NATS connection is up.
pub fn nats_check(readiness: &Readiness, client: async_nats::Client) {
    readiness.check("nats", move || {
        let state = client.connection_state();
        async move {
            match state {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    });
}

/// A worker's ops side in one piece: metrics recorder, readiness, the optional ops listener
/// (announced on stdout) and a stop token for background exporters.
pub struct OpsServer {
    pub readiness: Readiness,
    addr: Option<SocketAddr>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: CancellationToken,
}

impl OpsServer {
    pub async fn start(listen: Option<SocketAddr>, readiness: Readiness) -> std::io::Result<Self> {
        let metrics = install_metrics();
        let stop = CancellationToken::new();
        let (addr, task) = match listen {
            Some(addr) => {
                let (a, t) = serve(addr, readiness.clone(), metrics, stop.clone()).await?;
                crate::announce("ops", a);
                (Some(a), Some(t))
            }
            None => (None, None),
        };
        Ok(Self {
            readiness,
            addr,
            task,
            stop,
        })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Cancelled when the ops side stops: background exporters watch it.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// `/readyz` turns false as soon as `shutdown` fires, before in-flight work is drained.
    pub fn drain_on(&self, shutdown: &CancellationToken) {
        let readiness = self.readiness.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            readiness.set_draining();
        });
    }

    pub async fn stop(self) {
        self.stop.cancel();
        if let Some(t) = self.task {
            let _ = t.await;
        }
    }
}
