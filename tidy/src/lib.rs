//! Tidy checks of the repository as a whole, run as ordinary tests (`cargo test -p parley-tidy`,
//! part of the workspace suite and so of CI): the one list of server binaries (`binaries.txt`)
//! and the files that must follow it, the crate graph, and where NATS subjects are spelled.
//!
//! This library only reads the repository and asks cargo about it, for those tests; no binary
//! links it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A file of the repository, by its path from the root.
pub fn read(rel: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(root().join(rel)).with_context(|| format!("read {rel}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Run once as `<binary> apply` before the rest.
    Setup,
    /// A long-running worker with an ops listener.
    Worker,
    /// The gateway.
    Edge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub name: String,
    pub kind: Kind,
}

impl Binary {
    /// The name without `parley-`: its compose service, Prometheus job and log file.
    pub fn short(&self) -> &str {
        self.name.strip_prefix("parley-").unwrap_or(&self.name)
    }
}

/// `binaries.txt`, in its order.
pub fn binaries() -> anyhow::Result<Vec<Binary>> {
    parse_binaries(&read("binaries.txt")?)
}

pub fn parse_binaries(text: &str) -> anyhow::Result<Vec<Binary>> {
    let mut out: Vec<Binary> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, kind] = fields[..] else {
            bail!("binaries.txt:{at}: expected `<binary> <kind>`, got {line:?}");
        };
        ensure!(
            name.starts_with("parley-"),
            "binaries.txt:{at}: {name} does not start with parley-"
        );
        let kind = match kind {
            "setup" => Kind::Setup,
            "worker" => Kind::Worker,
            "edge" => Kind::Edge,
            other => bail!("binaries.txt:{at}: unknown kind {other:?} (setup, worker or edge)"),
        };
        ensure!(
            !out.iter().any(|b| b.name == name),
            "binaries.txt:{at}: {name} is listed twice"
        );
        out.push(Binary {
            name: name.to_string(),
            kind,
        });
    }
    ensure!(!out.is_empty(), "binaries.txt lists no binary");
    Ok(out)
}

fn cargo(args: &[&str]) -> anyhow::Result<String> {
    // Cargo sets CARGO for the tests it runs; nextest passes it on.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(args)
        .current_dir(root())
        .output()
        .with_context(|| format!("run {cargo} {args:?}"))?;
    ensure!(
        out.status.success(),
        "{cargo} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A package of the workspace, as `cargo metadata` declares it.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Its directory, relative to the root (`workers/persist`).
    pub dir: PathBuf,
    /// Its `[[bin]]` targets.
    pub bins: Vec<String>,
    pub deps: Vec<Dep>,
}

#[derive(Debug, Clone)]
pub struct Dep {
    pub name: String,
    /// `None` for a normal dependency, else `dev` or `build`.
    pub kind: Option<String>,
}

impl Dep {
    pub fn section(&self) -> &'static str {
        match self.kind.as_deref() {
            Some("dev") => "[dev-dependencies]",
            Some("build") => "[build-dependencies]",
            _ => "[dependencies]",
        }
    }
}

/// Every package of the workspace with its declared dependencies (`cargo metadata --no-deps`).
pub fn workspace() -> anyhow::Result<Vec<Package>> {
    let meta: Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])?)?;
    let root = root();
    let mut out = Vec::new();
    for p in meta["packages"]
        .as_array()
        .context("metadata: no packages")?
    {
        let str_of = |v: &Value| v.as_str().map(str::to_string);
        let name = str_of(&p["name"]).context("package without a name")?;
        let manifest = PathBuf::from(str_of(&p["manifest_path"]).context("no manifest_path")?);
        let dir = manifest
            .parent()
            .and_then(|d| d.strip_prefix(&root).ok())
            .map(Path::to_path_buf)
            .with_context(|| format!("{name} lies outside the repository"))?;
        let bins = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| str_of(&t["name"]))
            .collect();
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some(Dep {
                    name: str_of(&d["name"])?,
                    kind: str_of(&d["kind"]),
                })
            })
            .collect();
        out.push(Package {
            name,
            dir,
            bins,
            deps,
        });
    }
    Ok(out)
}

/// The names of every package `packages` link, as a build of them alone resolves it: their
/// normal dependencies, transitively, with the features that build turns on. (`cargo metadata`
/// resolves features for the whole workspace at once, where the workers turn on the kit's
/// `db`; `cargo tree -p` resolves them as `cargo build -p` does.)
/// With several packages, their features are resolved together, as one build of all of them.
pub fn linked(packages: &[&str]) -> anyhow::Result<BTreeSet<String>> {
    // Not --offline: on a fresh machine the crates of a package no build has needed yet are
    // fetched (their manifests are what cargo tree reads).
    let mut args = vec!["tree", "-e", "normal", "--prefix", "none"];
    args.extend(["--format", "{p}"]);
    for p in packages {
        args.extend(["-p", p]);
    }
    let tree = cargo(&args)?;
    Ok(tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Whether crate `name` is `family` or one of its parts (`sqlx-core` is of `sqlx`).
pub fn of_family(name: &str, family: &str) -> bool {
    name == family
        || name
            .strip_prefix(family)
            .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('_'))
}

/// Every `.rs` file under `dir` (absolute), recursively, sorted.
pub fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))? {
            let path = e?.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Fails with every problem found, one per line, or passes when there is none.
pub fn report(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_txt_lines_are_checked() {
        let ok = parse_binaries("# c\n\nparley-a worker\nparley-b  edge\n").unwrap_or_default();
        assert_eq!(
            ok.iter().map(|b| (b.short(), b.kind)).collect::<Vec<_>>(),
            [("a", Kind::Worker), ("b", Kind::Edge)]
        );
        for bad in [
            "parley-a",
            "parley-a worker extra",
            "parley-a daemon",
            "a worker",
            "parley-a worker\nparley-a edge",
            "# only a comment",
        ] {
            assert!(parse_binaries(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn families() {
        assert!(of_family("sqlx", "sqlx"));
        assert!(of_family("sqlx-core", "sqlx"));
        assert!(!of_family("sqlxx", "sqlx"));
        assert!(!of_family("tokio", "tokio-postgres"));
    }
}
