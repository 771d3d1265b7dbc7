//! A small hand-written SVG line-chart renderer: enough for latency over time and percentile
//! curves, with no plotting dependency.

use std::fmt::Write;

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

pub enum XAxis {
    Linear,
    /// Percentile curve: x is the quantile q, plotted as log10(1 / (1 − q)) so 90, 99, 99.9 …
    /// are evenly spaced, as HdrHistogram plots do.
    Percentile,
}

const COLOURS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
const W: f64 = 900.0;
const H: f64 = 480.0;
const L: f64 = 70.0;
const R: f64 = 200.0;
const T: f64 = 40.0;
const B: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

pub fn chart(title: &str, x_label: &str, y_label: &str, x: XAxis, series: &[Series]) -> String {
    let tx = |q: f64| match x {
        XAxis::Linear => q,
        XAxis::Percentile => (1.0 / (1.0 - q.min(0.999_999))).log10(),
    };
    let pts = series.iter().flat_map(|s| s.points.iter());
    let x_max = pts.clone().map(|p| tx(p.0)).fold(0.0, f64::max).max(1e-9);
    let x_max = match x {
        XAxis::Linear => nice_max(x_max),
        XAxis::Percentile => x_max.ceil().max(1.0),
    };
    let y_max = nice_max(pts.map(|p| p.1).fold(0.0, f64::max));
    let pw = W - L - R;
    let ph = H - T - B;
    let sx = |v: f64| L + tx(v) / x_max * pw;
    let sy = |v: f64| T + ph - v / y_max * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        L + pw / 2.0,
        esc(title)
    );
    // Grid and y ticks.
    for i in 0..=5 {
        let v = y_max * i as f64 / 5.0;
        let y = sy(v);
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            L + pw,
            L - 6.0,
            y + 4.0,
            trim(v)
        );
    }
    // X ticks.
    match x {
        XAxis::Linear => {
            // Round steps (1, 2, 2.5, 5 × 10^k), about six of them.
            let step = nice_max(x_max / 6.0);
            for i in 0..=((x_max / step).floor() as u32) {
                let v = step * i as f64;
                let px = L + v / x_max * pw;
                let _ = writeln!(
                    s,
                    r#"<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
                    T + ph + 18.0,
                    trim(v)
                );
            }
        }
        XAxis::Percentile => {
            for d in 0..=(x_max as i32) {
                let q = 1.0 - 10f64.powi(-d);
                let px = L + d as f64 / x_max * pw;
                let label = trim(q * 100.0);
                let _ = writeln!(
                    s,
                    r##"<line x1="{px:.1}" y1="{T}" x2="{px:.1}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{label}%</text>"##,
                    T + ph,
                    T + ph + 18.0
                );
            }
        }
    }
    let _ = writeln!(
        s,
        r##"<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        L + pw / 2.0,
        H - 10.0,
        esc(x_label)
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
        T + ph / 2.0,
        T + ph / 2.0,
        esc(y_label)
    );
    for (i, se) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = se
            .points
            .iter()
            .map(|&(px, py)| format!("{:.1},{:.1}", sx(px), sy(py)))
            .collect();
        if !path.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{}"/>"#,
                path.join(" ")
            );
        }
        let ly = T + 14.0 + i as f64 * 18.0;
        let lx = L + pw + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_series_and_escapes() {
        let svg = chart(
            "a < b",
            "s",
            "ms",
            XAxis::Percentile,
            &[Series {
                name: "p&q".into(),
                points: vec![(0.5, 1.0), (0.99, 4.0), (0.999, 9.0)],
            }],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("a &lt; b") && svg.contains("p&amp;q"));
        assert!(svg.contains("<polyline") && svg.contains("99.9%"));
    }
}
