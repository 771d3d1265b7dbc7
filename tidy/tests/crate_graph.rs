//! The crate graph keeps the architecture's promises: `contracts` has no runtime, the edge
//! links no database driver, no worker (or edge) depends on another's crate, and test fixtures
//! and tools are linked into no server.

use std::collections::BTreeSet;

use parley_tidy::{Kind, Package, binaries, linked, of_family, report, workspace};

/// What `contracts` must not link: an async runtime, a network client or server, a store.
const RUNTIME: &[&str] = &[
    "tokio",
    "async-nats",
    "axum",
    "hyper",
    "reqwest",
    "sqlx",
    "redis",
];

/// Database drivers: the edge opens no database connection.
const DATABASE_DRIVERS: &[&str] = &[
    "sqlx",
    "redis",
    "postgres",
    "tokio-postgres",
    "diesel",
    "rusqlite",
    "libsqlite3-sys",
    "mysql_async",
    "mongodb",
    "scylla",
];

/// Crates of the workspace that no server may link.
const NEVER_LINKED: &[&str] = &[
    "parley-testkit",
    "parley-bench",
    "parley-seed",
    "parley-tidy",
];

/// The package that builds `binary`.
fn package_of<'a>(packages: &'a [Package], binary: &str) -> &'a Package {
    packages
        .iter()
        .find(|p| p.bins.iter().any(|b| b == binary))
        .unwrap_or_else(|| panic!("no package builds {binary}"))
}

fn forbidden_in(package: &str, families: &[&str]) -> Vec<String> {
    linked(&[package])
        .unwrap_or_else(|e| panic!("{e:#}"))
        .into_iter()
        .filter(|name| families.iter().any(|f| of_family(name, f)))
        .collect()
}

#[test]
fn contracts_links_no_runtime() {
    let found = forbidden_in("parley-contracts", RUNTIME);
    let problems: Vec<String> = found
        .iter()
        .map(|c| format!("contracts/Cargo.toml: parley-contracts links {c} (`cargo tree -p parley-contracts -e normal -i {c}`)"))
        .collect();
    report("contracts is wire types only", &problems);
}

#[test]
fn the_edge_links_no_database_driver() {
    let packages = workspace().unwrap();
    let edges: Vec<String> = binaries()
        .unwrap()
        .into_iter()
        .filter(|b| b.kind == Kind::Edge)
        .map(|b| package_of(&packages, &b.name).name.clone())
        .collect();
    assert!(!edges.is_empty(), "binaries.txt lists no edge");
    let mut problems = Vec::new();
    for edge in &edges {
        for c in forbidden_in(edge, DATABASE_DRIVERS) {
            problems.push(format!(
                "{edge} links {c} (`cargo tree -p {edge} -e normal -i {c}`); a kit feature that \
                 needs it (`db`) must stay off for the edge"
            ));
        }
    }
    report("the edge is stateless", &problems);
}

#[test]
fn no_server_depends_on_another_server_or_on_a_test_or_tool_crate() {
    let packages = workspace().unwrap();
    let servers: BTreeSet<String> = binaries()
        .unwrap()
        .into_iter()
        .filter(|b| matches!(b.kind, Kind::Worker | Kind::Edge))
        .map(|b| package_of(&packages, &b.name).name.clone())
        .collect();
    let all_servers: BTreeSet<String> = binaries()
        .unwrap()
        .into_iter()
        .map(|b| package_of(&packages, &b.name).name.clone())
        .collect();
    let mut problems = Vec::new();
    for p in packages.iter().filter(|p| servers.contains(&p.name)) {
        for d in &p.deps {
            if d.name != p.name && servers.contains(&d.name) {
                problems.push(format!(
                    "{}/Cargo.toml: {} depends on {} ({}); workers and edges talk only over \
                     NATS, with the types of contracts",
                    p.dir.display(),
                    p.name,
                    d.name,
                    d.section()
                ));
            }
        }
    }
    let all: Vec<&str> = all_servers.iter().map(String::as_str).collect();
    for c in linked(&all).unwrap() {
        if NEVER_LINKED.contains(&c.as_str()) {
            problems.push(format!(
                "a server links {c} (`cargo tree -e normal -i {c}`); it may only be a \
                 [dev-dependencies] entry"
            ));
        }
    }
    report("the crate graph between servers", &problems);
}
