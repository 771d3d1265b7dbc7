//! The distributions the data follows: heavy-tailed activity, exponential lengths, and a clock
//! with daily and weekly peaks.

use rand::Rng;

/// Walker/Vose alias table: O(1) draws from a fixed discrete distribution. Word and member
/// choices are drawn hundreds of millions of times at the `full` preset.
pub struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        assert!(n > 0, "alias table needs at least one weight");
        let total: f64 = weights.iter().sum();
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1.0 up to rounding.
        for i in small.into_iter().chain(large) {
            prob[i] = 1.0;
        }
        Self { prob, alias }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let i = rng.random_range(0..self.prob.len());
        if rng.random::<f64>() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }

    pub fn len(&self) -> usize {
        self.prob.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }
}

/// Exponential with the given mean.
pub fn exp(rng: &mut impl Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Pareto(x_m = 1, alpha), capped so a single account cannot dominate a small preset.
/// alpha = log(5)/log(4) ≈ 1.16 is the shape of the 80/20 rule.
pub fn pareto(rng: &mut impl Rng, alpha: f64, cap: f64) -> f64 {
    (1.0 - rng.random::<f64>()).powf(-1.0 / alpha).min(cap)
}

pub const PARETO_80_20: f64 = 1.160_964;

/// Zipf weights 1/rank^s for ranks 1..=n.
pub fn zipf_weights(n: usize, s: f64) -> Vec<f64> {
    (1..=n).map(|k| (k as f64).powf(-s)).collect()
}

/// Messages per hour of day (UTC), in relative units: a lunchtime bump and an evening peak;
/// 09:00–23:00 holds ≈ 70 % of the mass.
const HOUR_WEIGHTS: [f64; 24] = [
    4.8, 2.6, 1.5, 0.9, 0.7, 0.9, 2.2, 4.6, 6.5, // 00–08
    4.6, 5.0, 5.2, 5.8, 5.6, 5.0, 4.9, 5.0, 5.3, 5.6, 6.0, 6.6, 6.8, 5.8, // 09–22
    6.0, // 23
];

/// Messages per day of week, Sunday first: weekdays busier than weekends.
const WEEKDAY_WEIGHTS: [f64; 7] = [0.72, 1.0, 1.06, 1.05, 1.02, 0.95, 0.7];

pub const US_PER_SEC: i64 = 1_000_000;
pub const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// When messages happen: a window of `days` days ending at `until` (midnight UTC), with
/// weekly and daily peaks and usage growing over the year.
pub struct Clock {
    first_day: i64,
    day_cdf: Vec<f64>,
    hours: Alias,
    end_us: i64,
}

impl Clock {
    /// `until_day`: days since the Unix epoch of the window's end (exclusive).
    pub fn new(until_day: i64, days: usize) -> Self {
        let first_day = until_day - days as i64;
        let mut acc = 0.0;
        let mut day_cdf = Vec::with_capacity(days);
        for d in 0..days {
            // 1970-01-01 was a Thursday.
            let weekday = (first_day + d as i64 + 4).rem_euclid(7) as usize;
            // The product grows: the last month sees ≈ 1.7× the traffic of the first.
            let growth = 0.75 + 0.55 * d as f64 / days as f64;
            acc += WEEKDAY_WEIGHTS[weekday] * growth;
            day_cdf.push(acc);
        }
        for c in &mut day_cdf {
            *c /= acc;
        }
        Self {
            first_day,
            day_cdf,
            hours: Alias::new(&HOUR_WEIGHTS),
            end_us: until_day * US_PER_DAY,
        }
    }

    pub fn start_us(&self) -> i64 {
        self.first_day * US_PER_DAY
    }

    pub fn end_us(&self) -> i64 {
        self.end_us
    }

    /// Midnight of the day at quantile `q` of the day distribution.
    pub fn day_start_us(&self, q: f64) -> i64 {
        let d = self
            .day_cdf
            .partition_point(|&c| c < q)
            .min(self.day_cdf.len() - 1);
        (self.first_day + d as i64) * US_PER_DAY
    }

    /// A moment on a day drawn from quantiles `[from_q, 1)` of the day distribution, at an
    /// hour drawn from the daily profile.
    pub fn moment(&self, rng: &mut impl Rng, from_q: f64) -> i64 {
        let q = from_q + (1.0 - from_q) * rng.random::<f64>();
        let day = self.day_start_us(q);
        let hour = self.hours.sample(rng) as i64;
        day + hour * 3600 * US_PER_SEC + rng.random_range(0..3600 * US_PER_SEC)
    }

    /// Share of the daily profile's mass in `[from, to)` hours.
    pub fn hour_share(from: usize, to: usize) -> f64 {
        let total: f64 = HOUR_WEIGHTS.iter().sum();
        HOUR_WEIGHTS[from..to].iter().sum::<f64>() / total
    }
}

/// Days since the Unix epoch of a UTC date.
pub fn unix_day(date: chrono::NaiveDate) -> i64 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn alias_matches_its_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = Alias::new(&[1.0, 2.0, 7.0]);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[a.sample(&mut rng)] += 1;
        }
        for (c, want) in counts.iter().zip([0.1, 0.2, 0.7]) {
            let got = f64::from(*c) / 100_000.0;
            assert!((got - want).abs() < 0.01, "{got} vs {want}");
        }
    }

    #[test]
    fn pareto_at_80_20_shape_gives_the_top_fifth_most_of_the_mass() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut w: Vec<f64> = (0..100_000)
            .map(|_| pareto(&mut rng, PARETO_80_20, 1e9))
            .collect();
        w.sort_by(|a, b| b.total_cmp(a));
        let top: f64 = w[..20_000].iter().sum();
        let share = top / w.iter().sum::<f64>();
        // A finite sample of an infinite-variance law wanders; the rule holds roughly.
        assert!((0.65..0.92).contains(&share), "top-20% share {share}");
    }

    #[test]
    fn exp_has_its_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mean = (0..200_000).map(|_| exp(&mut rng, 50.0)).sum::<f64>() / 200_000.0;
        assert!((mean - 50.0).abs() < 1.0, "{mean}");
    }

    #[test]
    fn daytime_hours_hold_seventy_percent() {
        let share = Clock::hour_share(9, 23);
        assert!((0.68..0.74).contains(&share), "{share}");
    }

    #[test]
    fn clock_stays_in_its_window_and_weekdays_beat_weekends() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let until = unix_day(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default());
        let clock = Clock::new(until, 365);
        let mut by_weekday = [0u32; 7];
        for _ in 0..100_000 {
            let t = clock.moment(&mut rng, 0.0);
            assert!(t >= clock.start_us() && t < clock.end_us());
            by_weekday[((t / US_PER_DAY + 4) % 7) as usize] += 1;
        }
        assert!(by_weekday[2] > by_weekday[0] * 13 / 10, "{by_weekday:?}");
        assert!(by_weekday[3] > by_weekday[6] * 13 / 10, "{by_weekday:?}");
    }

    #[test]
    fn zipf_first_rank_dominates() {
        let w = zipf_weights(1000, 1.0);
        assert_eq!(w[0], 1.0);
        assert!((w[9] - 0.1).abs() < 1e-12);
    }
}
