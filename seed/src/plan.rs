//! Who exists and who talks to whom: users with Pareto-distributed activity, direct and group
//! conversations, and how many messages each conversation gets. Small enough to hold in memory
//! (≈ 100 bytes per conversation); the messages themselves are streamed by `generate`.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::dist::{self, Alias, Clock, US_PER_DAY, US_PER_SEC};
use crate::preset::Size;
use crate::text::{FIRST_NAMES, LAST_NAMES};

/// How strongly activity decides membership: active people are in more conversations, but
/// less than proportionally (everyone has a few chats).
const MEMBERSHIP_EXPONENT: f64 = 0.5;
/// How strongly activity decides who speaks within a conversation.
pub const SENDER_EXPONENT: f64 = 1.0;
/// Largest group (the directory's default cap).
pub const MAX_GROUP: usize = parley_contracts::limits::DEFAULT_MAX_GROUP_MEMBERS;

pub struct User {
    pub id: Uuid,
    pub created_us: i64,
    /// Relative activity (Pareto).
    pub weight: f64,
    pub first: &'static str,
    pub last: &'static str,
}

pub struct Conversation {
    pub id: Uuid,
    pub group: bool,
    /// The creator first (the admin of a group).
    pub members: Vec<u32>,
    pub len: u32,
    /// Quantile of the year at which the conversation starts; its messages come after it.
    pub start_q: f64,
    pub created_us: i64,
}

pub struct Plan {
    pub seed: u64,
    pub clock: Clock,
    pub users: Vec<User>,
    pub conversations: Vec<Conversation>,
}

/// Conversation classes and their mean length relative to the overall mean: lengths are
/// exponential within a class; a few "busy" groups make the tail reach tens of thousands
/// while most conversations stay under a hundred messages.
const DIRECT_SHARE: f64 = 0.83;
const BUSY_SHARE: f64 = 0.02;
const DIRECT_MEAN: f64 = 0.5;
const GROUP_MEAN: f64 = 1.0;
const BUSY_MEAN: f64 = 25.0;

impl Plan {
    pub fn new(seed: u64, size: Size, clock: Clock) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let users = users(&mut rng, size.users, &clock);
        let conversations = conversations(&mut rng, &users, size, &clock);
        Self {
            seed,
            clock,
            users,
            conversations,
        }
    }

    pub fn messages(&self) -> u64 {
        self.conversations.iter().map(|c| u64::from(c.len)).sum()
    }

    pub fn members(&self) -> u64 {
        self.conversations
            .iter()
            .map(|c| c.members.len() as u64)
            .sum()
    }

    /// Usernames are unique by construction: the index is part of them.
    pub fn username(&self, i: u32) -> String {
        let u = &self.users[i as usize];
        format!("{}.{}{i}", ascii_lower(u.first), ascii_lower(u.last))
    }

    pub fn display_name(&self, i: u32) -> String {
        let u = &self.users[i as usize];
        format!("{} {}", u.first, u.last)
    }
}

fn ascii_lower(s: &str) -> String {
    s.to_lowercase().replace('ü', "ue")
}

/// A UUIDv7 at the given time with seeded random bits: ids sort by creation like the ones
/// clients make, and the same seed gives the same ids.
pub fn uuid_v7(rng: &mut impl Rng, unix_us: i64) -> Uuid {
    let bytes: [u8; 10] = rng.random();
    uuid::Builder::from_unix_timestamp_millis((unix_us / 1000).max(0) as u64, &bytes).into_uuid()
}

fn users(rng: &mut ChaCha8Rng, n: usize, clock: &Clock) -> Vec<User> {
    (0..n)
        .map(|_| {
            // Accounts exist before the window: up to half a year earlier.
            let created_us = clock.start_us() - rng.random_range(US_PER_SEC..180 * US_PER_DAY);
            User {
                id: uuid_v7(rng, created_us),
                created_us,
                weight: dist::pareto(rng, dist::PARETO_80_20, 5_000.0),
                first: FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())],
                last: LAST_NAMES[rng.random_range(0..LAST_NAMES.len())],
            }
        })
        .collect()
}

fn conversations(
    rng: &mut ChaCha8Rng,
    users: &[User],
    size: Size,
    clock: &Clock,
) -> Vec<Conversation> {
    let n_users = users.len();
    let membership = Alias::new(
        &users
            .iter()
            .map(|u| u.weight.powf(MEMBERSHIP_EXPONENT))
            .collect::<Vec<_>>(),
    );
    let pick = |rng: &mut ChaCha8Rng, taken: &[u32]| -> u32 {
        for _ in 0..64 {
            let u = membership.sample(rng) as u32;
            if !taken.contains(&u) {
                return u;
            }
        }
        // Saturated by the heavy users: fall back to uniform.
        loop {
            let u = rng.random_range(0..n_users as u32);
            if !taken.contains(&u) {
                return u;
            }
        }
    };
    let mut pairs: HashSet<(u32, u32)> = HashSet::new();
    let max_pairs = n_users * (n_users - 1) / 2;
    let mut out = Vec::with_capacity(size.conversations);
    let mut raw = Vec::with_capacity(size.conversations);
    for _ in 0..size.conversations {
        let u: f64 = rng.random();
        let direct = u < DIRECT_SHARE && pairs.len() < max_pairs;
        let members = if direct {
            loop {
                let a = pick(rng, &[]);
                let b = pick(rng, &[a]);
                if pairs.insert((a.min(b), a.max(b))) {
                    break vec![a, b];
                }
            }
        } else {
            let extra = if rng.random_bool(0.05) {
                20.0 + dist::exp(rng, 30.0)
            } else {
                1.0 + dist::exp(rng, 5.0)
            };
            let n = (2 + extra as usize).min(MAX_GROUP).min(n_users);
            let mut m: Vec<u32> = Vec::with_capacity(n);
            while m.len() < n {
                let u = pick(rng, &m);
                m.push(u);
            }
            m
        };
        let mean = if direct {
            DIRECT_MEAN
        } else if u >= 1.0 - BUSY_SHARE {
            BUSY_MEAN
        } else {
            GROUP_MEAN
        };
        raw.push(dist::exp(rng, mean));
        out.push(Conversation {
            id: Uuid::nil(),
            group: !direct,
            members,
            len: 0,
            start_q: 0.0,
            created_us: 0,
        });
    }
    let lens = scale_to_total(&raw, size.messages);
    for (c, len) in out.iter_mut().zip(lens) {
        c.len = len;
        // Long conversations started early in the year; short ones anywhere.
        c.start_q = rng.random::<f64>() / (1.0 + f64::from(len) / 200.0);
        c.created_us =
            clock.day_start_us(c.start_q) - rng.random_range(US_PER_SEC..3600 * US_PER_SEC);
        c.id = uuid_v7(rng, c.created_us);
    }
    out
}

/// Integer lengths ≥ 1 proportional to `raw`, summing exactly to `total`.
pub fn scale_to_total(raw: &[f64], total: u64) -> Vec<u32> {
    let n = raw.len() as u64;
    assert!(total >= n, "need at least one message per conversation");
    let rest = (total - n) as f64;
    let sum: f64 = raw.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let exact: Vec<f64> = raw.iter().map(|r| r / sum * rest).collect();
    let mut lens: Vec<u32> = exact.iter().map(|e| 1 + *e as u32).collect();
    let mut short = total - lens.iter().map(|&l| u64::from(l)).sum::<u64>();
    // Largest remainders first; ties by index keep it deterministic.
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b].fract())
            .total_cmp(&exact[a].fract())
            .then(a.cmp(&b))
    });
    for i in order {
        if short == 0 {
            break;
        }
        lens[i] += 1;
        short -= 1;
    }
    lens
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::Preset;

    fn clock() -> Clock {
        Clock::new(
            dist::unix_day(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()),
            365,
        )
    }

    #[test]
    fn scaling_hits_the_total_exactly() {
        let lens = scale_to_total(&[0.1, 5.0, 2.5, 0.0], 1000);
        assert_eq!(lens.iter().map(|&l| u64::from(l)).sum::<u64>(), 1000);
        assert!(lens.iter().all(|&l| l >= 1));
        assert!(lens[1] > lens[2] && lens[2] > lens[0]);
    }

    #[test]
    fn medium_plan_has_the_intended_shape() {
        let size = Preset::Medium.size();
        let plan = Plan::new(42, size, clock());
        assert_eq!(plan.messages(), size.messages);
        let mut lens: Vec<u32> = plan.conversations.iter().map(|c| c.len).collect();
        lens.sort_unstable();
        let under_100 = lens.iter().filter(|&&l| l < 100).count() as f64 / lens.len() as f64;
        assert!(under_100 > 0.75, "share under 100 messages: {under_100}");
        assert!(
            *lens.last().unwrap_or(&0) > 5_000,
            "longest {:?}",
            lens.last()
        );
        let directs: Vec<_> = plan.conversations.iter().filter(|c| !c.group).collect();
        assert!(
            directs
                .iter()
                .all(|c| c.members.len() == 2 && c.members[0] != c.members[1])
        );
        let mut keys: Vec<_> = directs
            .iter()
            .map(|c| {
                (
                    c.members[0].min(c.members[1]),
                    c.members[0].max(c.members[1]),
                )
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(
            keys.len(),
            directs.len(),
            "one direct conversation per pair"
        );
        assert!(
            plan.conversations
                .iter()
                .all(|c| c.members.len() <= MAX_GROUP)
        );
        assert!(
            plan.conversations
                .iter()
                .all(|c| c.created_us < plan.clock.end_us())
        );
    }

    #[test]
    fn expected_sends_follow_the_80_20_rule() {
        let plan = Plan::new(42, Preset::Medium.size(), clock());
        // Expected messages per user: each conversation's messages split by sender weight.
        let mut sends = vec![0f64; plan.users.len()];
        for c in &plan.conversations {
            let w: Vec<f64> = c
                .members
                .iter()
                .map(|&m| plan.users[m as usize].weight.powf(SENDER_EXPONENT))
                .collect();
            let total: f64 = w.iter().sum();
            for (&m, wi) in c.members.iter().zip(w) {
                sends[m as usize] += f64::from(c.len) * wi / total;
            }
        }
        sends.sort_by(|a, b| b.total_cmp(a));
        let top: f64 = sends[..sends.len() / 5].iter().sum();
        let share = top / sends.iter().sum::<f64>();
        assert!(
            (0.72..0.88).contains(&share),
            "top-20% senders' share {share}"
        );
    }

    #[test]
    fn plans_are_deterministic() {
        let a = Plan::new(9, Preset::Small.size(), clock());
        let b = Plan::new(9, Preset::Small.size(), clock());
        let c = Plan::new(10, Preset::Small.size(), clock());
        let ids = |p: &Plan| {
            p.conversations
                .iter()
                .map(|c| (c.id, c.len))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
    }
}
