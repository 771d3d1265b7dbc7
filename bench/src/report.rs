//! Where a run's results go: a JSON file and SVG plots under `bench/results/`, and a summary
//! row in a table of the "Load scenarios" section of `bench/RESULTS.md` (other sections of
//! that file belong to others and are left untouched).

use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::svg::{Series, XAxis, chart};

pub const SECTION: &str = "## Load scenarios";

/// "2 vCPU AMD EPYC …, 24 GiB" from /proc.
pub fn hardware() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cpu.lines().filter(|l| l.starts_with("processor")).count();
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb: u64 = mem
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    format!(
        "{cores} vCPU {model}, {:.0} GiB",
        kb as f64 / 1024.0 / 1024.0
    )
}

/// The commit the tree was at (with "+dirty" when it had changes), for telling runs apart.
pub fn git_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR")])
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head}+dirty") } else { head }
}

pub fn stamp() -> (String, String) {
    let now = chrono::Utc::now();
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y%m%dT%H%M%SZ").to_string(),
    )
}

/// A run's result: `fields` plus what every result file carries (kind, date, hardware, commit,
/// command line).
pub fn run_record(kind: &str, date: &str, mut fields: serde_json::Value) -> serde_json::Value {
    if let Some(o) = fields.as_object_mut() {
        o.insert("kind".into(), kind.into());
        o.insert("date".into(), date.into());
        o.insert("hardware".into(), hardware().into());
        o.insert("gitCommit".into(), git_commit().into());
        o.insert(
            "command".into(),
            std::env::args().collect::<Vec<_>>().join(" ").into(),
        );
    }
    fields
}

pub fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {dir:?}"))?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(v)?)?;
    Ok(path)
}

pub fn write_svg(dir: &Path, name: &str, svg: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.svg"));
    std::fs::write(&path, svg)?;
    Ok(path)
}

/// Percentile curve points (q, ms) from 0 to 99.99 %, or up to what the count supports.
pub fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut q: f64 = 0.0;
    // Steps that are even on the log(1 / (1 − q)) axis.
    while q < 0.9999 && (1.0 - q) * h.len() as f64 >= 1.0 {
        out.push((q, h.value_at_quantile(q) as f64 / 1000.0));
        q = 1.0 - (1.0 - q) * 0.8;
    }
    out.push((
        q.min(0.9999),
        h.value_at_quantile(q.min(0.9999)) as f64 / 1000.0,
    ));
    out
}

pub fn percentile_chart(title: &str, hists: &[(&str, &Histogram<u64>)]) -> String {
    let series: Vec<Series> = hists
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(n, h)| Series {
            name: n.to_string(),
            points: percentile_points(h),
        })
        .collect();
    chart(
        title,
        "percentile",
        "latency (ms)",
        XAxis::Percentile,
        &series,
    )
}

/// p50 and p99 per second, for every named per-second histogram series.
pub fn over_time_chart(title: &str, per_second: &[(&str, &[Histogram<u64>])]) -> String {
    let mut series = Vec::new();
    for (name, hs) in per_second {
        for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
            series.push(Series {
                name: format!("{name} {label}"),
                points: hs
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| !h.is_empty())
                    .map(|(s, h)| (s as f64, h.value_at_quantile(q) as f64 / 1000.0))
                    .collect(),
            });
        }
    }
    chart(
        title,
        "seconds since start (by send time)",
        "latency (ms)",
        XAxis::Linear,
        &series,
    )
}

/// Appends `row` to the table headed `header` in the "Load scenarios" section, creating the
/// section (at the end of the file) or the table (at the end of the section) when missing.
pub fn append_row(results_md: &Path, header: &[&str], row: &[String]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(results_md).unwrap_or_default();
    let updated = insert_row(&text, header, row);
    std::fs::write(results_md, updated).with_context(|| format!("write {results_md:?}"))
}

fn table_line(cells: &[String]) -> String {
    format!("| {} |", cells.join(" | "))
}

pub fn insert_row(text: &str, header: &[&str], row: &[String]) -> String {
    let head = table_line(&header.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let sep = table_line(&header.iter().map(|_| "---".to_string()).collect::<Vec<_>>());
    let row = table_line(row);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = match lines.iter().position(|l| l.trim_end() == SECTION) {
        Some(i) => i,
        None => {
            if lines.last().is_some_and(|l| !l.is_empty()) {
                lines.push(String::new());
            }
            lines.push(SECTION.into());
            lines.push(String::new());
            lines.len() - 2
        }
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map(|i| start + 1 + i)
        .unwrap_or(lines.len());
    let at = match lines[start..end].iter().position(|l| l.trim_end() == head) {
        Some(h) => {
            let mut i = start + h + 1;
            while i < end && lines[i].starts_with('|') {
                i += 1;
            }
            i
        }
        None => {
            // A new table at the end of the section, after its last non-blank line.
            let mut i = end;
            while i > start + 1 && lines[i - 1].trim().is_empty() {
                i -= 1;
            }
            let block = [String::new(), head, sep];
            for (k, l) in block.into_iter().enumerate() {
                lines.insert(i + k, l);
            }
            i + 3
        }
    };
    lines.insert(at, row);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_into_our_table_and_leave_other_sections_alone() {
        let text = "# R\n\n## Seeding\n\nx\n";
        let h = ["a", "b"];
        let once = insert_row(text, &h, &["1".into(), "2".into()]);
        assert!(once.contains(
            "## Seeding\n\nx\n\n## Load scenarios\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"
        ));
        let later = format!("{}\n\n## Other\n\ny\n", once.trim_end());
        let twice = insert_row(&later, &h, &["3".into(), "4".into()]);
        assert!(
            twice.contains("| 1 | 2 |\n| 3 | 4 |\n\n## Other\n\ny\n"),
            "{twice}"
        );
        let other = insert_row(&twice, &["c"], &["5".into()]);
        assert!(other.contains("| 3 | 4 |\n\n| c |\n| --- |\n| 5 |\n\n## Other"));
    }
}
