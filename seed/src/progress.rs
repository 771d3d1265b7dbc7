//! Progress on stderr: rows copied, rate, ETA.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// A progress line printer; `finish` stops it and waits for it.
pub struct Progress {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Print `label: done / total (pct) · rate · ETA` every `every` (nothing when `every` is None).
    pub fn start(
        label: &'static str,
        done: Arc<AtomicU64>,
        total: u64,
        every: Option<Duration>,
    ) -> Self {
        let stop = CancellationToken::new();
        let cancelled = stop.clone();
        let task = tokio::spawn(async move {
            let Some(every) = every else { return };
            let started = Instant::now();
            let mut last = (started, 0u64);
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = cancelled.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = Instant::now();
                let n = done.load(Ordering::Relaxed);
                let recent = (n - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
                let average = n as f64 / (now - started).as_secs_f64().max(1e-9);
                let eta = if average > 0.0 {
                    secs(total.saturating_sub(n) as f64 / average)
                } else {
                    "?".into()
                };
                eprintln!(
                    "{label}: {} / {} ({:.1}%) · {} rows/s now, {} rows/s average · ETA {eta}",
                    si(n as f64),
                    si(total as f64),
                    100.0 * n as f64 / total.max(1) as f64,
                    si(recent),
                    si(average),
                );
                last = (now, n);
            }
        });
        Self { stop, task }
    }

    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

pub fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

pub fn secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
