//! Server-side cost from /proc: CPU seconds (utime + stime) and RSS of the Parley server
//! processes, found by name and optionally narrowed to one instance by a string that must
//! appear in their command line or environment (e.g. the database name `parley_load`).

use std::collections::BTreeMap;

/// Process names (`/proc/<pid>/comm`, at most 15 characters) of the server side.
const NAMES: &[&str] = &[
    "nats-server",
    "parley-edge",
    "parley-director", // parley-directory, truncated by the kernel
    "parley-persist",
    "parley-delivery",
    "parley-receipts",
    "parley-presence",
    "postgres",
    "redis-server",
];

#[derive(Debug, Clone, Default)]
pub struct Proc {
    pub pid: u32,
    pub name: String,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn matches(pid: u32, filter: Option<&str>) -> bool {
    let Some(f) = filter else { return true };
    let hay = |file: &str| {
        std::fs::read(format!("/proc/{pid}/{file}"))
            .map(|b| String::from_utf8_lossy(&b).contains(f))
            .unwrap_or(false)
    };
    hay("cmdline") || hay("environ")
}

/// The server processes now. Redis is shared by every instance on the machine, so it is only
/// included without a filter.
pub fn find(filter: Option<&str>) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(comm) = read(&format!("/proc/{pid}/comm")) else {
            continue;
        };
        let comm = comm.trim();
        let Some(name) = NAMES.iter().find(|n| comm == **n) else {
            continue;
        };
        let filtered = filter.is_some() && *name == "redis-server";
        if !filtered && matches(pid, filter) {
            out.push(Proc {
                pid,
                name: if *name == "parley-director" {
                    "parley-directory".into()
                } else {
                    name.to_string()
                },
            });
        }
    }
    out
}

/// utime + stime of one process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = read(&format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on (sysconf would need libc).
    Some(ticks / 100.0)
}

pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = read(&format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU seconds per process name at one moment (processes gone by then count nothing, so
/// snapshots are taken over the same set of processes).
pub fn cpu_by_name(procs: &[Proc]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for p in procs {
        if let Some(s) = cpu_seconds(p.pid) {
            *m.entry(p.name.clone()).or_default() += s;
        }
    }
    m
}

pub fn edge_rss(procs: &[Proc]) -> u64 {
    procs
        .iter()
        .filter(|p| p.name == "parley-edge")
        .filter_map(|p| rss_bytes(p.pid))
        .sum()
}

/// Dirty page cache waiting to be written out, KiB (`Dirty:` of /proc/meminfo).
pub fn dirty_kib() -> Option<u64> {
    read("/proc/meminfo")?
        .lines()
        .find_map(|l| l.strip_prefix("Dirty:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Write out the page cache's dirty data before a measurement when there is much of it. A
/// build or a copy of the binaries leaves hundreds of megabytes dirty; the kernel writes them
/// out 30 s later, and if that falls inside the run every synced write waits behind it
/// (stalls of most of a second that belong to the machine, not to what is measured).
pub fn flush_dirty_pages() {
    const MUCH_KIB: u64 = 32 * 1024;
    let Some(dirty) = dirty_kib().filter(|d| *d > MUCH_KIB) else {
        return;
    };
    eprintln!(
        "[setup] {} MiB of dirty page cache; writing it out (sync) so that it is not written during the run…",
        dirty / 1024
    );
    let started = std::time::Instant::now();
    match std::process::Command::new("sync").status() {
        Ok(s) if s.success() => eprintln!(
            "[setup] written out in {:.1}s",
            started.elapsed().as_secs_f64()
        ),
        Ok(s) => eprintln!("[setup] sync failed ({s}); the run may see writeback stalls"),
        Err(e) => eprintln!("[setup] cannot run sync ({e}); the run may see writeback stalls"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(cpu_seconds(me).is_some());
        assert!(rss_bytes(me).unwrap_or(0) > 0);
    }

    #[test]
    fn dirty_is_read_from_meminfo() {
        // Every Linux kernel this runs on reports it.
        assert!(dirty_kib().is_some());
    }
}
