//! One list of server binaries: `binaries.txt`. `scripts/run.sh` and the Dockerfile read it;
//! everything else that names the binaries one by one is checked against it here, and each
//! failure says what is missing where.

use std::collections::BTreeSet;

use parley_tidy::{Binary, Kind, binaries, read, report, workspace};
use yaml_rust2::{Yaml, YamlLoader};

/// `[[bin]]`s of the workspace that are tools, not servers: they are not deployed, started by
/// run.sh or scraped.
const TOOLS: &[&str] = &["parley-bench", "parley-seed"];

fn of_kinds(list: &[Binary], kinds: &[Kind]) -> Vec<Binary> {
    list.iter()
        .filter(|b| kinds.contains(&b.kind))
        .cloned()
        .collect()
}

fn yaml(rel: &str) -> Yaml {
    let text = read(rel).unwrap_or_else(|e| panic!("{e:#}"));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(docs.len(), 1, "{rel}: one YAML document");
    docs.remove(0)
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_vec()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The port of a `host:port` value in a service's environment.
fn env_port(service: &Yaml, var: &str) -> Option<i64> {
    service["environment"][var]
        .as_str()?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

#[test]
fn every_server_binary_of_the_workspace_is_listed_and_every_listed_one_exists() {
    let listed = binaries().unwrap();
    let mut problems = Vec::new();
    let mut built = BTreeSet::new();
    for p in workspace().unwrap() {
        for bin in &p.bins {
            built.insert(bin.clone());
            if !TOOLS.contains(&bin.as_str()) && !listed.iter().any(|b| &b.name == bin) {
                problems.push(format!(
                    "binaries.txt: no line for {bin}, a [[bin]] of {} (or list it among the \
                     TOOLS of tidy/tests/binaries.rs)",
                    p.dir.display()
                ));
            }
        }
    }
    for b in &listed {
        if !built.contains(&b.name) {
            problems.push(format!(
                "binaries.txt: {} is no [[bin]] of the workspace",
                b.name
            ));
        }
    }
    for t in TOOLS {
        if !built.contains(*t) {
            problems.push(format!(
                "tidy/tests/binaries.rs: tool {t} is no [[bin]] of the workspace"
            ));
        }
    }
    report("binaries.txt against the workspace", &problems);
}

#[test]
fn run_sh_and_the_dockerfile_take_their_binaries_from_the_list() {
    let listed = binaries().unwrap();
    let mut problems = Vec::new();
    for file in ["scripts/run.sh", "Dockerfile"] {
        let text = read(file).unwrap();
        if !text.contains("binaries.txt") {
            problems.push(format!("{file}: does not read binaries.txt"));
        }
        // A binary named in the file itself would bypass the list.
        for b in &listed {
            if text.contains(&b.name) {
                problems.push(format!(
                    "{file}: names {} itself; take it from binaries.txt",
                    b.name
                ));
            }
        }
    }
    report("run.sh and Dockerfile", &problems);
}

#[test]
fn compose_runs_every_listed_binary_with_a_health_check() {
    let listed = binaries().unwrap();
    let compose = yaml("compose.yaml");
    let services = compose["services"]
        .as_hash()
        .expect("compose.yaml: services");
    let mut problems = Vec::new();
    for b in &listed {
        match b.kind {
            Kind::Setup => {
                let want = [b.name.clone(), "apply".to_string()];
                if !services.values().any(|s| strings(&s["command"]) == want) {
                    problems.push(format!(
                        "compose.yaml: no service runs [\"{}\", \"apply\"] (setup)",
                        b.name
                    ));
                }
            }
            Kind::Worker | Kind::Edge => {
                let service = &compose["services"][b.short()];
                if service.is_badvalue() {
                    problems.push(format!(
                        "compose.yaml: no service `{}` for {}",
                        b.short(),
                        b.name
                    ));
                    continue;
                }
                if strings(&service["command"]) != [b.name.clone()] {
                    problems.push(format!(
                        "compose.yaml: service `{}` does not run [\"{}\"]",
                        b.short(),
                        b.name
                    ));
                }
                if service["healthcheck"].is_badvalue() {
                    problems.push(format!(
                        "compose.yaml: service `{}` has no healthcheck",
                        b.short()
                    ));
                }
                let listen = if b.kind == Kind::Worker {
                    "PARLEY_OPS_LISTEN"
                } else {
                    "PARLEY_LISTEN"
                };
                if env_port(service, listen).is_none() {
                    problems.push(format!(
                        "compose.yaml: service `{}` sets no {listen} (host:port)",
                        b.short()
                    ));
                }
            }
        }
    }
    for (name, s) in services {
        let name = name.as_str().unwrap_or_default();
        // A shell command line counts by its first word.
        if let Some(bin) = strings(&s["command"])
            .first()
            .and_then(|c| c.split_whitespace().next())
            && bin.starts_with("parley-")
            && !listed.iter().any(|b| b.name == bin)
        {
            problems.push(format!(
                "compose.yaml: service `{name}` runs {bin}, which binaries.txt does not list"
            ));
        }
    }
    report("compose.yaml against binaries.txt", &problems);
}

#[test]
fn prometheus_scrapes_every_worker_and_edge_where_compose_serves_metrics() {
    let listed = binaries().unwrap();
    let scraped = of_kinds(&listed, &[Kind::Worker, Kind::Edge]);
    let compose = yaml("compose.yaml");
    let prom = yaml("ops/prometheus/prometheus.yml");
    let jobs = prom["scrape_configs"]
        .as_vec()
        .expect("prometheus.yml: scrape_configs");
    let mut problems = Vec::new();
    for b in &scraped {
        let Some(job) = jobs
            .iter()
            .find(|j| j["job_name"].as_str() == Some(b.short()))
        else {
            problems.push(format!(
                "ops/prometheus/prometheus.yml: no scrape job `{}` for {}",
                b.short(),
                b.name
            ));
            continue;
        };
        let sd = &job["dns_sd_configs"][0];
        if strings(&sd["names"]) != [b.short().to_string()] {
            problems.push(format!(
                "ops/prometheus/prometheus.yml: job `{}` does not discover compose service `{}` \
                 (dns_sd_configs names)",
                b.short(),
                b.short()
            ));
        }
        let listen = if b.kind == Kind::Worker {
            "PARLEY_OPS_LISTEN"
        } else {
            "PARLEY_LISTEN"
        };
        let serves = env_port(&compose["services"][b.short()], listen);
        if serves.is_some() && sd["port"].as_i64() != serves {
            problems.push(format!(
                "ops/prometheus/prometheus.yml: job `{}` scrapes port {:?}; compose's {listen} is \
                 port {serves:?}",
                b.short(),
                sd["port"].as_i64()
            ));
        }
    }
    for j in jobs {
        let name = j["job_name"].as_str().unwrap_or_default();
        if name != "prometheus" && !scraped.iter().any(|b| b.short() == name) {
            problems.push(format!(
                "ops/prometheus/prometheus.yml: job `{name}` is no worker or edge of binaries.txt"
            ));
        }
    }
    report("prometheus.yml against binaries.txt", &problems);
}

#[test]
fn the_testkit_can_start_every_worker() {
    let listed: Vec<String> = of_kinds(&binaries().unwrap(), &[Kind::Worker])
        .into_iter()
        .map(|b| b.name)
        .collect();
    let testkit: Vec<String> = parley_testkit::Worker::ALL
        .iter()
        .map(|w| w.binary().to_string())
        .collect();
    let mut problems = Vec::new();
    for b in &listed {
        if !testkit.contains(b) {
            problems.push(format!(
                "testkit/src/workers.rs: `Worker` has no variant for {b}"
            ));
        }
    }
    for b in &testkit {
        if !listed.contains(b) {
            problems.push(format!(
                "testkit/src/workers.rs: `Worker` starts {b}, which binaries.txt does not list \
                 as a worker"
            ));
        }
    }
    if problems.is_empty() && testkit != listed {
        problems.push(format!(
            "testkit/src/workers.rs: `Worker::ALL` is {testkit:?}; binaries.txt's order is \
             {listed:?}"
        ));
    }
    report("testkit against binaries.txt", &problems);
}

#[test]
fn bench_samples_and_readme_name_every_server_process() {
    let servers = of_kinds(&binaries().unwrap(), &[Kind::Worker, Kind::Edge]);
    let procstat = read("bench/src/procstat.rs").unwrap();
    let readme = read("README.md").unwrap();
    let mut problems = Vec::new();
    for b in &binaries().unwrap() {
        if !readme.contains(&format!("| `{}", b.name)) {
            problems.push(format!(
                "README.md: the \"What runs\" table has no row for `{}`",
                b.name
            ));
        }
    }
    for b in &servers {
        // The kernel keeps 15 characters of a process name (`/proc/<pid>/comm`).
        let comm: String = b.name.chars().take(15).collect();
        if !procstat.contains(&format!("\"{comm}\"")) {
            problems.push(format!(
                "bench/src/procstat.rs: NAMES lacks \"{comm}\" ({})",
                b.name
            ));
        }
    }
    report("bench and README against binaries.txt", &problems);
}
