//! Bench accounts: registered once (Argon2id makes that slow: bounded parallelism, progress on
//! stderr), cached in a JSON file under the state directory keyed by URL and run id, and
//! reused by later runs. Access tokens are refreshed (`/auth/refresh`, rotation: the new
//! refresh token is kept) or, when that fails, obtained again by logging in.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

pub const BENCH_PASSWORD: &str = "benchmark-password";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
    /// Unix seconds at which `access` expires.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub id: Uuid,
    /// Indices into [`Cache::accounts`].
    pub members: Vec<usize>,
}

/// Everything a run can reuse, for one URL and run id.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Cache {
    pub url: String,
    pub run_id: String,
    pub accounts: Vec<Account>,
    /// Conversations by group size (2 = direct pairs), members consecutive accounts.
    pub conversations: Vec<Conversation>,
    pub group_size: usize,
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cache_path(state_dir: &Path, url: &str, run_id: &str) -> PathBuf {
    let key: String = url
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    state_dir.join(format!("bench-accounts-{key}-{run_id}.json"))
}

impl Cache {
    pub fn load(state_dir: &Path, url: &str, run_id: &str) -> Self {
        let path = cache_path(state_dir, url, run_id);
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cache>(&b).ok())
            .filter(|c| c.url == url && c.run_id == run_id)
            .unwrap_or_else(|| Cache {
                url: url.into(),
                run_id: run_id.into(),
                ..Default::default()
            })
    }

    pub fn save(&self, state_dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(state_dir).with_context(|| format!("create {state_dir:?}"))?;
        let path = cache_path(state_dir, &self.url, &self.run_id);
        // Write then rename: an interrupted save never leaves a torn cache behind.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

fn auth_from(v: &Value, username: &str, password: &str) -> anyhow::Result<Account> {
    let id = v["user"]["id"]
        .as_str()
        .context("no user id in auth answer")?
        .parse()?;
    Ok(Account {
        id,
        username: username.into(),
        password: password.into(),
        access: v["accessToken"].as_str().context("accessToken")?.into(),
        refresh: v["refreshToken"].as_str().unwrap_or_default().into(),
        expires_at: now_unix() + v["expiresIn"].as_u64().unwrap_or(900),
    })
}

/// POST with retries on 503/429 (honouring Retry-After) and on connection errors.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut attempt = 0u32;
    loop {
        let mut req = http.post(url).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                if (status == 503 || status == 429) && attempt < 20 {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt, retry)).await;
                    continue;
                }
                return Ok((status, v));
            }
            Err(e) if attempt < 20 => {
                attempt += 1;
                if attempt == 5 {
                    eprintln!("[accounts] retrying {url}: {e}");
                }
                tokio::time::sleep(backoff(attempt, None)).await;
            }
            Err(e) => return Err(e).context(format!("POST {url}")),
        }
    }
}

/// Full jitter on an exponential base, or the server's Retry-After plus up to as much again
/// (so a crowd told "1 s" does not come back in one wave).
pub fn backoff(attempt: u32, retry_after_s: Option<u64>) -> Duration {
    match retry_after_s {
        Some(s) => {
            let base = s.max(1) * 1000;
            Duration::from_millis(base + rand::random_range(0..base))
        }
        None => {
            let cap = (100u64 << attempt.min(6)).min(5_000);
            Duration::from_millis(rand::random_range(cap / 4..=cap))
        }
    }
}

async fn register(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<Account> {
    let (status, v) = post(
        http,
        &format!("{base}/api/v1/auth/register"),
        None,
        &json!({"username": name, "password": BENCH_PASSWORD}),
    )
    .await?;
    if status == 409 {
        // Registered by an earlier, interrupted run whose cache was not saved.
        return login(http, base, name, BENCH_PASSWORD).await;
    }
    if status != 201 && status != 200 {
        bail!("register {name}: {status} {v}");
    }
    auth_from(&v, name, BENCH_PASSWORD)
}

pub async fn login(
    http: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<Account> {
    let (status, v) = post(
        http,
        &format!("{base}/api/v1/auth/login"),
        None,
        &json!({"username": username, "password": password}),
    )
    .await?;
    if status != 200 {
        bail!("login {username}: {status} {v}");
    }
    auth_from(&v, username, password)
}

async fn refresh(http: &reqwest::Client, base: &str, a: &Account) -> anyhow::Result<Account> {
    let (status, v) = post(
        http,
        &format!("{base}/api/v1/auth/refresh"),
        None,
        &json!({"refreshToken": a.refresh}),
    )
    .await?;
    if status == 200 {
        return auth_from(&v, &a.username, &a.password);
    }
    login(http, base, &a.username, &a.password).await
}

/// Runs `f` over `items` with `concurrency` in flight, printing progress every few seconds.
pub async fn each<T, R, F, Fut>(
    label: &str,
    items: Vec<T>,
    concurrency: usize,
    f: F,
) -> anyhow::Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<R>>,
{
    let total = items.len();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let last = std::sync::Mutex::new(Instant::now());
    let out: Vec<anyhow::Result<R>> = futures::stream::iter(items)
        .map(|item| {
            let done = done.clone();
            let fut = f(item);
            let last = &last;
            async move {
                let r = fut.await;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if let Ok(mut l) = last.lock()
                    && (l.elapsed() > Duration::from_secs(5) || n == total)
                {
                    *l = Instant::now();
                    let rate = n as f64 / started.elapsed().as_secs_f64().max(0.001);
                    eprintln!("[setup] {label}: {n}/{total} ({rate:.0}/s)");
                }
                r
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    out.into_iter().collect()
}

/// What a run needs from the cache.
pub struct Want<'a> {
    pub run_id: &'a str,
    pub users: usize,
    /// Members per conversation; conversations are consecutive accounts.
    pub group_size: usize,
    /// Every token must stay valid this many more seconds.
    pub valid_for: u64,
    pub concurrency: usize,
}

/// Ensures the accounts and conversations of `want` exist with fresh enough tokens. Saves the
/// cache after every step.
pub async fn prepare(
    http: &reqwest::Client,
    base: &str,
    state_dir: &Path,
    want: Want<'_>,
) -> anyhow::Result<Cache> {
    let Want {
        run_id,
        users,
        group_size,
        valid_for,
        concurrency,
    } = want;
    let mut cache = Cache::load(state_dir, base, run_id);
    if cache.group_size != group_size && !cache.conversations.is_empty() {
        eprintln!("[setup] group size changed: creating new conversations");
        cache.conversations.clear();
    }
    cache.group_size = group_size;
    if cache.accounts.len() < users {
        let have = cache.accounts.len();
        eprintln!(
            "[setup] registering {} users (cache has {have}; Argon2id: this takes a while)…",
            users - have
        );
        // A per-cache prefix: usernames never collide between run ids or databases reused.
        let prefix = format!("lb{}", &Uuid::now_v7().simple().to_string()[24..]);
        // Register in chunks so an interrupted run keeps what it paid for.
        for chunk_start in (have..users).step_by(500) {
            let chunk_end = (chunk_start + 500).min(users);
            let names: Vec<String> = (chunk_start..chunk_end)
                .map(|i| format!("{prefix}_{i}"))
                .collect();
            let got = each("register", names, concurrency, |name| {
                let http = http.clone();
                async move { register(&http, base, &name).await }
            })
            .await?;
            cache.accounts.extend(got);
            cache.save(state_dir)?;
        }
    }
    refresh_all(http, base, &mut cache, users, valid_for, concurrency).await?;
    cache.save(state_dir)?;
    let convs = users / group_size;
    if cache.conversations.len() < convs {
        let have = cache.conversations.len();
        let todo: Vec<Vec<usize>> = (have..convs)
            .map(|c| (c * group_size..(c + 1) * group_size).collect())
            .collect();
        let accounts = &cache.accounts;
        let made = each("conversations", todo, concurrency, |members| {
            let http = http.clone();
            async move {
                let owner = &accounts[members[0]];
                let others: Vec<Uuid> = members[1..].iter().map(|&m| accounts[m].id).collect();
                let body = if members.len() == 2 {
                    json!({"type": "direct", "memberIds": others})
                } else {
                    json!({"type": "group", "memberIds": others, "name": "load"})
                };
                let (status, v) = post(
                    &http,
                    &format!("{base}/api/v1/conversations"),
                    Some(&owner.access),
                    &body,
                )
                .await?;
                let id = v["id"]
                    .as_str()
                    .with_context(|| format!("create conversation: {status} {v}"))?
                    .parse()?;
                anyhow::Ok(Conversation { id, members })
            }
        })
        .await?;
        cache.conversations.extend(made);
        cache.save(state_dir)?;
    }
    Ok(cache)
}

/// Refreshes every token among the first `users` that expires within `valid_for` seconds.
pub async fn refresh_all(
    http: &reqwest::Client,
    base: &str,
    cache: &mut Cache,
    users: usize,
    valid_for: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let limit = now_unix() + valid_for;
    let stale: Vec<(usize, Account)> = cache.accounts[..users]
        .iter()
        .enumerate()
        .filter(|(_, a)| a.expires_at < limit)
        .map(|(i, a)| (i, a.clone()))
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let fresh = each("refresh tokens", stale, concurrency, |(i, a)| {
        let http = http.clone();
        async move { Ok((i, refresh(&http, base, &a).await?)) }
    })
    .await?;
    for (i, a) in fresh {
        cache.accounts[i] = a;
    }
    Ok(())
}
