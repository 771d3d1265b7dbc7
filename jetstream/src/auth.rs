//! Who may do what on the NATS fabric: one role per binary (and one for integrators), each an
//! NKey user with the subjects it may publish and subscribe to. Every subject comes from
//! `contracts` (`subjects.rs`) and from this crate's streams and consumers, so a permission
//! cannot name a subject the code does not use, nor miss one a role's job needs.
//!
//! [`render_config`] writes the table as nats-server's `authorization` block (committed as
//! `jetstream/nats-auth.conf`, included by the dev and cluster configs, kept equal by a test);
//! the public keys come from the server's environment (`PARLEY_NKEY_EDGE=U…`), so the file
//! holds no deployment's keys. [`generate_keys`] makes each role's key pair;
//! [`connect_options`] is how a binary presents its seed.

use std::io::Write;
use std::path::{Path, PathBuf};

use parley_contracts::subjects::{self, consumer as cons, stream as st, svc};

/// A NATS user: a binary (its connection name, `parley-edge`) or an integrator.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: &'static str,
    /// One line for the generated config.
    pub about: &'static str,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    /// May answer requests it received (the server allows a publish to each reply subject
    /// once, for a while), without a grant on the requesters' inboxes.
    pub allow_responses: bool,
}

/// The role of third-party readers of `chat.evt.>`.
pub const INTEGRATOR: &str = "integrator";

/// Reply subjects of `name`'s requests. Each role subscribes only to its own inboxes, so no
/// binary reads the replies another one asked for (tokens from `svc.directory.login`, say).
/// Integrators set this prefix in their client (`nats --inbox-prefix _INBOX_integrator`).
pub fn inbox_prefix(name: &str) -> String {
    format!("_INBOX_{name}")
}

/// Environment variable from which nats-server reads `name`'s public key.
pub fn nkey_var(name: &str) -> String {
    let short = name.strip_prefix("parley-").unwrap_or(name);
    format!("PARLEY_NKEY_{}", short.to_uppercase().replace('-', "_"))
}

/// File (in a key directory) holding `name`'s seed.
pub fn seed_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.nk"))
}

fn js_api(rest: String) -> String {
    format!("$JS.API.{rest}")
}

/// Reading stream configs: every binary checks at start-up that the streams are provisioned.
fn stream_info() -> Vec<String> {
    crate::streams(crate::Topology::default())
        .into_iter()
        .map(|s| js_api(format!("STREAM.INFO.{}", s.name)))
        .collect()
}

/// The stream a durable consumer reads (from [`crate::consumers`]).
fn stream_of(durable: &str) -> &'static str {
    crate::consumers()
        .into_iter()
        .find(|(_, c)| c.durable_name.as_deref() == Some(durable))
        .map(|(s, _)| s)
        .unwrap_or("")
}

/// Creating (create-or-update, with or without the filter in the subject) a durable consumer.
fn consumer_create(stream: &str, durable: &str) -> Vec<String> {
    vec![
        js_api(format!("CONSUMER.CREATE.{stream}.{durable}")),
        js_api(format!("CONSUMER.CREATE.{stream}.{durable}.>")),
        js_api(format!("CONSUMER.DURABLE.CREATE.{stream}.{durable}")),
    ]
}

/// What a worker does with its own durable consumer: create it, read its state, pull, ack.
fn consume(durable: &str) -> Vec<String> {
    let stream = stream_of(durable);
    let mut out = consumer_create(stream, durable);
    out.extend([
        js_api(format!("CONSUMER.INFO.{stream}.{durable}")),
        js_api(format!("CONSUMER.MSG.NEXT.{stream}.{durable}")),
        format!("$JS.ACK.{stream}.{durable}.>"),
    ]);
    out
}

fn strings(subjects: &[&str]) -> Vec<String> {
    subjects.iter().map(|s| (*s).to_string()).collect()
}

/// A Parley binary: the stream checks every binary makes, its own inbox, and `publish` /
/// `subscribe` on top.
fn binary(
    name: &'static str,
    about: &'static str,
    publish: Vec<String>,
    subscribe: Vec<String>,
    serves: bool,
) -> Role {
    let mut p = stream_info();
    p.extend(publish);
    let mut s = vec![format!("{}.>", inbox_prefix(name))];
    s.extend(subscribe);
    Role {
        name,
        about,
        publish: p,
        subscribe: s,
        allow_responses: serves,
    }
}

/// Every role, in the order of the generated config.
pub fn roles() -> Vec<Role> {
    vec![
        edge(),
        directory(),
        persist(),
        delivery(),
        receipts(),
        presence(),
        provisioner(),
        bench(),
        integrator(),
    ]
}

fn edge() -> Role {
    let mut publish = strings(&[
        subjects::CMD_MSG_ALL,
        subjects::CMD_RECEIPT_ALL,
        subjects::TYPING_ALL,
        subjects::PRESENCE_ALL,
    ]);
    publish.extend(strings(&[
        svc::REGISTER,
        svc::LOGIN,
        svc::REFRESH,
        svc::LOGOUT,
        svc::USER_GET,
        svc::USER_UPDATE,
        svc::USER_SEARCH,
        svc::CONV_CREATE,
        svc::CONV_GET,
        svc::CONV_LIST,
        svc::CONV_UPDATE,
        svc::MEMBERS_ADD,
        svc::MEMBERS_REMOVE,
        svc::MEMBERS,
        svc::BLOCK,
        svc::UNBLOCK,
        svc::BLOCKS,
        svc::SETTINGS,
        svc::PRESENCE_VISIBLE,
        svc::HISTORY_PAGE,
        svc::HISTORY_RANGE,
        svc::HISTORY_SUMMARY,
        svc::HISTORY_REPORT,
        svc::HISTORY_LAST_SEQS,
        svc::RECEIPTS_GET,
        svc::RECEIPTS_MINE,
        svc::PRESENCE_GET,
    ]));
    binary(
        "parley-edge",
        "the gateway: commands, typing, presence, service calls; chat.user.<id> to sockets",
        publish,
        strings(&[
            subjects::USER_ALL,
            subjects::EVT_MEMBER_ALL,
            subjects::EVT_USER_ALL,
        ]),
        false,
    )
}

fn directory() -> Role {
    binary(
        "parley-directory",
        "accounts, tokens, conversations: svc.directory.*, membership and user events",
        strings(&[subjects::EVT_MEMBER_ALL, subjects::EVT_USER_ALL]),
        strings(&[svc::DIRECTORY_ALL]),
        true,
    )
}

fn persist() -> Role {
    let mut publish = strings(&[
        subjects::EVT_MSG_ALL,
        subjects::LIVE_MSG_ALL,
        // A rejected command's error frame goes to its sender's devices.
        subjects::USER_ALL,
    ]);
    publish.extend(consume(cons::PERSIST));
    // The order guard reads earlier commands of a conversation from COMMANDS after a takeover.
    publish.push(js_api(format!("STREAM.MSG.GET.{}", st::COMMANDS)));
    binary(
        "parley-persist",
        "sequences message commands, publishes message events, serves svc.history.*",
        publish,
        strings(&[svc::HISTORY_ALL]),
        true,
    )
}

fn delivery() -> Role {
    let mut publish = strings(&[
        subjects::USER_ALL,
        svc::MEMBERS,
        svc::SETTINGS,
        svc::PRESENCE_AUDIENCE,
    ]);
    publish.extend(consume(cons::DELIVERY));
    publish.extend(consume(cons::DELIVERY_PRESENCE));
    binary(
        "parley-delivery",
        "routes events, live copies and typing to members' chat.user.<id>",
        publish,
        strings(&[
            subjects::LIVE_ALL,
            subjects::TYPING_ALL,
            subjects::EVT_MEMBER_ALL,
            subjects::EVT_USER_ALL,
        ]),
        false,
    )
}

fn receipts() -> Role {
    let mut publish = strings(&[
        subjects::EVT_RECEIPT_ALL,
        subjects::LIVE_RECEIPT_ALL,
        svc::HISTORY_LAST_SEQS,
    ]);
    publish.extend(consume(cons::RECEIPTS));
    binary(
        "parley-receipts",
        "applies receipt commands, publishes receipt events, serves svc.receipts.*",
        publish,
        strings(&[svc::RECEIPTS_ALL]),
        true,
    )
}

fn presence() -> Role {
    binary(
        "parley-presence",
        "reads the edges' presence, publishes presence changes, serves svc.presence.*",
        strings(&[subjects::EVT_PRESENCE_ALL]),
        strings(&[subjects::PRESENCE_ALL, svc::PRESENCE_ALL]),
        true,
    )
}

/// `parley-jetstream apply`: creates and updates Parley's streams and durables, deletes the
/// retired ones; nothing else (no other stream, no purge, no message).
fn provisioner() -> Role {
    let mut publish = Vec::new();
    for s in crate::streams(crate::Topology::default()) {
        for verb in ["INFO", "CREATE", "UPDATE"] {
            publish.push(js_api(format!("STREAM.{verb}.{}", s.name)));
        }
    }
    for (stream, c) in crate::consumers() {
        let durable = c.durable_name.unwrap_or_default();
        publish.extend(consumer_create(stream, &durable));
        publish.push(js_api(format!("CONSUMER.INFO.{stream}.{durable}")));
    }
    for (stream, durable) in crate::RETIRED_CONSUMERS {
        publish.push(js_api(format!("CONSUMER.DELETE.{stream}.{durable}")));
    }
    Role {
        name: "parley-jetstream",
        about: "`parley-jetstream apply`: Parley's streams and durable consumers only",
        publish,
        subscribe: vec![format!("{}.>", inbox_prefix("parley-jetstream"))],
        allow_responses: false,
    }
}

/// `parley-bench latency`'s NATS round-trip baseline; the rest of the benchmark is a client.
fn bench() -> Role {
    Role {
        name: "parley-bench",
        about: "the benchmark's request/reply baseline on bench.>",
        publish: strings(&[subjects::BENCH_ALL]),
        subscribe: vec![
            format!("{}.>", inbox_prefix("parley-bench")),
            subjects::BENCH_ALL.to_string(),
        ],
        allow_responses: true,
    }
}

/// Third parties: read EVENTS through the `integrator` durable (`parley-jetstream apply`
/// defines it; they cannot define consumers: see [`cons::INTEGRATOR`]) or single messages by
/// sequence. They publish nothing on `chat.>`, touch no other consumer and call no service.
fn integrator() -> Role {
    let events = st::EVENTS;
    let durable = cons::INTEGRATOR;
    Role {
        name: INTEGRATOR,
        about: "third-party readers of chat.evt.> (EVENTS) through the `integrator` durable",
        publish: vec![
            js_api(format!("STREAM.INFO.{events}")),
            js_api(format!("STREAM.MSG.GET.{events}")),
            js_api(format!("CONSUMER.INFO.{events}.{durable}")),
            js_api(format!("CONSUMER.MSG.NEXT.{events}.{durable}")),
            format!("$JS.ACK.{events}.{durable}.>"),
        ],
        subscribe: vec![format!("{}.>", inbox_prefix(INTEGRATOR))],
        allow_responses: false,
    }
}

fn list(out: &mut String, indent: &str, key: &str, items: &[String]) {
    out.push_str(&format!("{indent}{key}: [\n"));
    for i in items {
        out.push_str(&format!("{indent}  \"{i}\"\n"));
    }
    out.push_str(&format!("{indent}]\n"));
}

/// nats-server's `authorization` block for `roles`.
pub fn render_config(roles: &[Role]) -> String {
    let mut out = String::from(
        "# NATS users of Parley and what each may publish and subscribe to. Generated from\n\
         # jetstream/src/auth.rs by `parley-jetstream auth config` (a test keeps them equal): do\n\
         # not edit by hand. Each user is an NKey; the server reads the public keys from its\n\
         # environment (`parley-jetstream auth keys` writes them as PARLEY_NKEY_*=U…), and does\n\
         # not start when one is missing. Clients without a key are refused.\n\
         authorization {\n  users: [\n",
    );
    for r in roles {
        out.push_str(&format!("    # {}: {}\n", r.name, r.about));
        out.push_str(&format!(
            "    {{\n      nkey: ${}\n      permissions: {{\n",
            nkey_var(r.name)
        ));
        out.push_str("        publish: {\n");
        list(&mut out, "          ", "allow", &r.publish);
        out.push_str("        }\n        subscribe: {\n");
        list(&mut out, "          ", "allow", &r.subscribe);
        out.push_str("        }\n");
        if r.allow_responses {
            out.push_str("        allow_responses: true\n");
        }
        out.push_str("      }\n    }\n");
    }
    out.push_str("  ]\n}\n");
    out
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("NATS credentials {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file holds no valid user seed (its content is never shown: it is a secret).
    #[error("NATS credentials {path}: not an NKey user seed (SU…)")]
    NotASeed { path: PathBuf },
    #[error("generate an NKey: {0}")]
    Generate(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AuthError + '_ {
    move |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Read and check the user seed in `path` (one line `SU…`, as `nk -gen user` writes it).
pub fn read_seed(path: &Path) -> Result<String, AuthError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let seed = text.trim().to_string();
    match nkeys::KeyPair::from_seed(&seed) {
        Ok(kp) if seed.starts_with("SU") && kp.public_key().starts_with('U') => Ok(seed),
        _ => Err(AuthError::NotASeed {
            path: path.to_path_buf(),
        }),
    }
}

/// Options for a connection named `name` (its role): its inbox prefix, and its seed when
/// `creds` names one (without, the server must allow anonymous clients: it does not).
pub fn connect_options(
    creds: Option<&Path>,
    name: &str,
) -> Result<async_nats::ConnectOptions, AuthError> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .custom_inbox_prefix(inbox_prefix(name));
    if let Some(path) = creds {
        opts = opts.nkey(read_seed(path)?);
    }
    Ok(opts)
}

/// What [`generate_keys`] did for a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Created(String),
    Kept(String),
}

/// Make a key pair for every role of `roles` that has none in `dir` (a seed file per role,
/// `<name>.nk`, readable by its owner only; existing seeds are kept, so running it again
/// changes nothing), and write `nkeys.env`: every role's public key as `PARLEY_NKEY_*=U…`,
/// the environment nats-server needs for [`render_config`]'s block.
pub fn generate_keys(dir: &Path, roles: &[Role]) -> Result<Vec<KeyChange>, AuthError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut changes = Vec::new();
    let mut env = String::from("# Public NKeys of Parley's NATS users (not secret).\n");
    for r in roles {
        let path = seed_file(dir, r.name);
        let kp = if path.exists() {
            changes.push(KeyChange::Kept(r.name.to_string()));
            nkeys::KeyPair::from_seed(&read_seed(&path)?)
                .map_err(|e| AuthError::Generate(e.to_string()))?
        } else {
            let kp = nkeys::KeyPair::new_user();
            let seed = kp.seed().map_err(|e| AuthError::Generate(e.to_string()))?;
            write_private(&path, &format!("{seed}\n"))?;
            changes.push(KeyChange::Created(r.name.to_string()));
            kp
        };
        env.push_str(&format!("{}={}\n", nkey_var(r.name), kp.public_key()));
    }
    let env_path = dir.join("nkeys.env");
    std::fs::write(&env_path, env).map_err(io_err(&env_path))?;
    Ok(changes)
}

fn write_private(path: &Path, text: &str) -> Result<(), AuthError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err(path))?;
    f.write_all(text.as_bytes()).map_err(io_err(path))
}

/// The public keys in a key directory's `nkeys.env`, as (variable, key) pairs: the
/// environment to start nats-server with.
pub fn read_public_keys(dir: &Path) -> Result<Vec<(String, String)>, AuthError> {
    let path = dir.join("nkeys.env");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed block is the table's: permissions cannot drift from the code.
    #[test]
    fn the_committed_config_is_the_generated_one() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("nats-auth.conf");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = render_config(&roles());
        assert!(
            committed == generated,
            "{} is stale: run `parley-jetstream auth config > jetstream/nats-auth.conf`",
            path.display()
        );
    }

    #[test]
    fn every_subject_a_role_names_is_a_valid_nats_subject() {
        for r in roles() {
            for s in r.publish.iter().chain(&r.subscribe) {
                assert!(
                    !s.is_empty()
                        && !s.contains(char::is_whitespace)
                        && s.split('.').all(|t| !t.is_empty())
                        && !s.contains('"'),
                    "{}: {s:?}",
                    r.name
                );
            }
        }
    }

    #[test]
    fn role_names_map_to_distinct_variables_and_inboxes() {
        let rs = roles();
        let vars: std::collections::HashSet<_> = rs.iter().map(|r| nkey_var(r.name)).collect();
        assert_eq!(vars.len(), rs.len());
        assert_eq!(nkey_var("parley-edge"), "PARLEY_NKEY_EDGE");
        assert_eq!(nkey_var(INTEGRATOR), "PARLEY_NKEY_INTEGRATOR");
        assert_eq!(stream_of(cons::PERSIST), st::COMMANDS);
        assert_eq!(stream_of(cons::INTEGRATOR), st::EVENTS);
    }

    #[test]
    fn keys_are_made_once_and_kept() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let rs = roles();
        let first = generate_keys(dir.path(), &rs)?;
        assert!(first.iter().all(|c| matches!(c, KeyChange::Created(_))));
        let seed = read_seed(&seed_file(dir.path(), "parley-edge"))?;
        let env = read_public_keys(dir.path())?;
        let again = generate_keys(dir.path(), &rs)?;
        assert!(again.iter().all(|c| matches!(c, KeyChange::Kept(_))));
        assert_eq!(read_seed(&seed_file(dir.path(), "parley-edge"))?, seed);
        assert_eq!(read_public_keys(dir.path())?, env);
        assert_eq!(env.len(), rs.len());
        let edge = nkeys::KeyPair::from_seed(&seed)?.public_key();
        assert!(env.contains(&("PARLEY_NKEY_EDGE".to_string(), edge)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(seed_file(dir.path(), "parley-edge"))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "a seed is readable by its owner only");
        }
        std::fs::write(dir.path().join("bad.nk"), "not a seed")?;
        assert!(matches!(
            read_seed(&dir.path().join("bad.nk")),
            Err(AuthError::NotASeed { .. })
        ));
        Ok(())
    }
}
