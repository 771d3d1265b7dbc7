//! HDR histograms in microseconds, and their transport between processes: V2-serialized,
//! base64 (standard alphabet) so they travel in JSON lines over a child's stdout.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::Serialize;

/// 1 µs … 10 min at 3 significant digits: wide enough that nothing recorded is ever dropped.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Two significant digits: for the per-second series, where hundreds of histograms are kept
/// (a 3-digit one over this range is ~300 KiB of counters; this one ~40 KiB).
pub fn coarse() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2)
        .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| unreachable!()))
}

pub fn record(h: &mut Histogram<u64>, micros: u128) {
    // Saturating: a value beyond the bounds is clamped rather than lost.
    h.saturating_record((micros as u64).max(1));
}

pub fn encode(h: &Histogram<u64>) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| anyhow::anyhow!("serialize histogram: {e:?}"))?;
    Ok(STANDARD.encode(buf))
}

pub fn decode(s: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = STANDARD.decode(s).context("histogram base64")?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("deserialize histogram: {e:?}"))?;
    Ok(h)
}

/// Adds `other` into `into`, widening nothing: both come from [`hist`].
pub fn merge(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    let _ = into.add(other);
}

/// Percentiles in milliseconds, as they appear in results and reports.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
pub struct Summary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<24} n={:<8} p50={:>8.2}ms p90={:>8.2}ms p99={:>8.2}ms p99.9={:>8.2}ms max={:>8.2}ms",
            self.count, self.p50, self.p90, self.p99, self.p999, self.max
        )
    }

    /// "p50 / p99 / p99.9 ms" for a table cell.
    pub fn cell(&self) -> String {
        if self.count == 0 {
            return "–".into();
        }
        format!(
            "{} / {} / {} ms",
            fmt_ms(self.p50),
            fmt_ms(self.p99),
            fmt_ms(self.p999)
        )
    }
}

pub fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_counts_and_quantiles() -> anyhow::Result<()> {
        let mut h = hist();
        for v in 1..=10_000u128 {
            record(&mut h, v * 10);
        }
        let back = decode(&encode(&h)?)?;
        assert_eq!(back.len(), h.len());
        assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
        let mut sum = hist();
        merge(&mut sum, &back);
        merge(&mut sum, &h);
        assert_eq!(sum.len(), 20_000);
        Ok(())
    }
}
