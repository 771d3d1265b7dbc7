//! A small circuit breaker and bounded exponential backoff.
//!
//! When a dependency (a service behind NATS, Postgres, Redis) is down, waiting on every call
//! piles up requests and delivery attempts; a breaker that has seen `threshold` failures in a
//! row refuses at once for a cooling period (doubling while the dependency stays down), then
//! lets one probe through. Callers turn a refusal into a clear `unavailable`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `base · 2^(attempt-1)`, capped at `max`, with up to 25 % jitter so that many instances do
/// not retry in step. `attempt` counts from 1.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(max);
    let jitter = capped.mul_f64(rand::random::<f64>() * 0.25);
    capped.saturating_sub(jitter)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    /// Refusing until the instant passes.
    Open(Instant),
    /// One probe is out since the instant; everyone else is refused until it reports (or, if
    /// its caller gave up without reporting, until the longest cooling period passed).
    HalfOpen(Instant),
}

#[derive(Debug)]
struct Inner {
    state: State,
    failures: u32,
    /// Consecutive times the breaker opened; sets the cooling period.
    trips: u32,
}

#[derive(Debug)]
pub struct Breaker {
    name: &'static str,
    threshold: u32,
    base: Duration,
    max: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(name: &'static str, threshold: u32, base: Duration, max: Duration) -> Self {
        Self {
            name,
            threshold: threshold.max(1),
            base,
            max,
            inner: Mutex::new(Inner {
                state: State::Closed,
                failures: 0,
                trips: 0,
            }),
        }
    }

    pub fn state(&self) -> State {
        self.inner.lock().map(|i| i.state).unwrap_or(State::Closed)
    }

    /// Whether a call may go ahead now (when open and cooled down, this call is the probe).
    pub fn allow(&self) -> bool {
        let Ok(mut i) = self.inner.lock() else {
            return true;
        };
        let now = Instant::now();
        match i.state {
            State::Closed => true,
            State::HalfOpen(since) if now.duration_since(since) < self.max => false,
            State::Open(until) if now < until => false,
            State::HalfOpen(_) | State::Open(_) => {
                i.state = State::HalfOpen(now);
                true
            }
        }
    }

    pub fn success(&self) {
        let Ok(mut i) = self.inner.lock() else {
            return;
        };
        if i.state != State::Closed {
            tracing::info!(
                breaker = self.name,
                "dependency answers again; breaker closed"
            );
        }
        *i = Inner {
            state: State::Closed,
            failures: 0,
            trips: 0,
        };
    }

    pub fn failure(&self) {
        let Ok(mut i) = self.inner.lock() else {
            return;
        };
        i.failures = i.failures.saturating_add(1);
        let trip = matches!(i.state, State::HalfOpen(_)) || i.failures >= self.threshold;
        if trip {
            i.trips = i.trips.saturating_add(1);
            let cool = backoff(i.trips, self.base, self.max);
            i.state = State::Open(Instant::now() + cool);
            tracing::warn!(
                breaker = self.name,
                failures = i.failures,
                cool_ms = cool.as_millis() as u64,
                "dependency failing; breaker open"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..=10 {
            let d = backoff(attempt, base, max);
            let full = base.saturating_mul(1 << (attempt - 1)).min(max);
            assert!(d <= full && d >= full.mul_f64(0.75), "{attempt}: {d:?}");
        }
        assert!(backoff(u32::MAX, base, max) <= max);
    }

    #[test]
    fn opens_after_threshold_then_probes_once() {
        let b = Breaker::new("t", 3, Duration::from_millis(20), Duration::from_millis(40));
        for _ in 0..2 {
            assert!(b.allow());
            b.failure();
        }
        assert_eq!(b.state(), State::Closed);
        b.failure();
        assert!(matches!(b.state(), State::Open(_)));
        assert!(!b.allow(), "open refuses");
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.allow(), "cooled down: one probe");
        assert!(!b.allow(), "only one probe at a time");
        b.failure();
        assert!(
            matches!(b.state(), State::Open(_)),
            "a failed probe reopens"
        );
        std::thread::sleep(Duration::from_millis(45));
        assert!(b.allow());
        b.success();
        assert_eq!(b.state(), State::Closed);
        assert!(b.allow() && b.allow());
    }
}
