//! NATS subjects are spelled only in `contracts` (and stream configs in `jetstream`): a literal
//! `"chat.…"` or `"svc.…"` anywhere else in Rust is a subject that can drift from the contract.

use parley_tidy::{report, root, rust_files, workspace};

/// Packages that spell subjects.
const SPELLERS: &[&str] = &["parley-contracts", "parley-jetstream"];

/// Directories of a package whose code may spell subjects of its own: tests make up subjects
/// (`svc.test.echo`) and read streams by filter. Doc comments are skipped everywhere.
const ALLOWED_DIRS: &[&str] = &["tests", "benches"];

const PREFIXES: &[&str] = &["\"chat.", "\"svc."];

/// `(line number, line)` of each literal subject in `text`, outside `//` comments.
fn literal_subjects(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| PREFIXES.iter().any(|p| l.contains(p)))
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .collect()
}

#[test]
fn no_literal_subject_outside_contracts_and_jetstream() {
    let root = root();
    let mut problems = Vec::new();
    let mut scanned = 0;
    for p in workspace().unwrap() {
        if SPELLERS.contains(&p.name.as_str()) {
            continue;
        }
        let dir = root.join(&p.dir);
        for file in rust_files(&dir).unwrap() {
            let rel = file.strip_prefix(&dir).unwrap_or(&file);
            if rel
                .components()
                .next()
                .is_some_and(|c| ALLOWED_DIRS.iter().any(|a| c.as_os_str() == *a))
            {
                continue;
            }
            scanned += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, code) in literal_subjects(&text) {
                problems.push(format!(
                    "{}:{line}: a literal subject ({code}); use parley_contracts::subjects",
                    file.strip_prefix(&root).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(
        scanned > 50,
        "only {scanned} files scanned: is the walk right?"
    );
    report("subjects are spelled in contracts", &problems);
}

#[test]
fn the_scan_finds_literals_and_skips_comments() {
    let text = "let a = \"chat.user.x\";\n// \"svc.x\" in a comment\n    /// `chat.evt`\nformat!(\"svc.{x}\")";
    assert_eq!(
        literal_subjects(text)
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>(),
        [1, 4]
    );
}
