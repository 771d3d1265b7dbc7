//! Where the time goes, from the servers' own metrics: `/metrics` (Prometheus text) of the
//! edge and workers is read before and after the schedule; counters and histogram sums are
//! reported as deltas (e.g. `parley_consumer_batch_seconds_sum{consumer="persist"}` = seconds
//! persist spent handling batches), gauges such as `parley_consumer_lag` as their maximum over
//! the run.

use std::collections::BTreeMap;

/// Series name with labels → value.
pub type Sample = BTreeMap<String, f64>;

pub fn parse(text: &str) -> Sample {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.trim().parse::<f64>().ok()?))
        })
        // Buckets are many and say little in a summary; sums and counts carry the time.
        .filter(|(s, _)| !s.contains("_bucket{"))
        .collect()
}

fn is_gauge(series: &str) -> bool {
    let name = series.split('{').next().unwrap_or(series);
    matches!(
        name,
        "parley_consumer_lag" | "parley_consumer_ack_pending" | "parley_edge_connections"
    )
}

pub async fn fetch(http: &reqwest::Client, url: &str) -> Sample {
    match http.get(url).send().await {
        Ok(r) => parse(&r.text().await.unwrap_or_default()),
        Err(_) => Sample::new(),
    }
}

/// Counters as after − before (only those that moved), gauges as the maximum seen.
pub fn delta(before: &Sample, after: &Sample, gauge_max: &Sample) -> Sample {
    let mut out = Sample::new();
    for (k, v) in after {
        if is_gauge(k) {
            continue;
        }
        let d = v - before.get(k).copied().unwrap_or(0.0);
        if d != 0.0 {
            out.insert(k.clone(), d);
        }
    }
    for (k, v) in gauge_max {
        out.insert(format!("max {k}"), *v);
    }
    out
}

/// Folds a sample's gauges into running maxima.
pub fn track_gauges(max: &mut Sample, s: &Sample) {
    for (k, v) in s.iter().filter(|(k, _)| is_gauge(k)) {
        let e = max.entry(k.clone()).or_insert(*v);
        *e = e.max(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_of_counters_and_maxima_of_gauges() {
        let a = parse(
            "# TYPE x counter\nx_total{a=\"1\"} 5\nparley_consumer_lag{consumer=\"persist\"} 3\nh_bucket{le=\"1\"} 2\n",
        );
        let b = parse("x_total{a=\"1\"} 12\nparley_consumer_lag{consumer=\"persist\"} 1\n");
        let mut max = Sample::new();
        track_gauges(&mut max, &a);
        track_gauges(&mut max, &b);
        let d = delta(&a, &b, &max);
        assert_eq!(d.get("x_total{a=\"1\"}"), Some(&7.0));
        assert_eq!(
            d.get("max parley_consumer_lag{consumer=\"persist\"}"),
            Some(&3.0)
        );
        assert!(!d.keys().any(|k| k.contains("bucket")));
    }
}
