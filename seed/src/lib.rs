//! `parley-seed`: realistic seed data for Parley, loaded straight into the workers' own
//! PostgreSQL schemas (`directory`, `persist`, `receipts`) with binary COPY.
//!
//! What it generates: users whose activity is Pareto-distributed (a fifth of them send about
//! four fifths of the messages), direct and group conversations whose lengths are exponential
//! within a class (most under a hundred messages, a tail of busy groups in the tens of
//! thousands), messages over the twelve months before `--until` with daily and weekly peaks,
//! text over a Zipf-distributed vocabulary, media messages as links, replies and mentions,
//! one `message.created` event per message, and monotone delivered/read watermarks. The same
//! `--seed` (and `--until`) gives byte-identical data.
//!
//! Every seeded user's password is [`SEED_PASSWORD`]: the hash is computed once and shared.
//!
//! What it is not: a load test (that is `parley-bench`), or a writer the workers know about. It
//! runs the workers' migrations itself and leaves each schema exactly as they define it; run it
//! while the workers are stopped.

pub mod db;
pub mod dist;
pub mod generate;
pub mod pgcopy;
pub mod plan;
pub mod preset;
pub mod progress;
pub mod text;
pub mod verify;

mod load;

pub use load::{Report, measure_copy, seed};
pub use preset::Preset;

/// The password of every seeded user.
pub const SEED_PASSWORD: &str = "parley-seed-password";

/// Command-line options (`parley-seed --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "parley-seed",
    version,
    about = "Generate realistic users, conversations and messages and bulk-load them into Parley's PostgreSQL schemas",
    long_about = "Generate realistic users, conversations and messages and bulk-load them into \
        Parley's PostgreSQL schemas (directory, persist, receipts) with binary COPY.\n\n\
        Runs the workers' migrations first. Refuses to write into a database that already holds \
        users, messages or a seed run unless --force is given (which empties the seeded tables). \
        Every seeded user's password is \"parley-seed-password\"; usernames look like \
        alice.smith17. Progress and rates go to stderr, the summary to stdout."
)]
pub struct Options {
    /// PostgreSQL database to load (created if missing).
    #[arg(
        long,
        env = "PARLEY_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/parley"
    )]
    pub database_url: String,
    /// Data set size: small (CI), medium (2M messages) or full (50M messages).
    #[arg(long, value_enum, env = "PARLEY_SEED_PRESET", default_value = "small")]
    pub preset: Preset,
    /// Override the preset's number of users.
    #[arg(long)]
    pub users: Option<usize>,
    /// Override the preset's number of conversations.
    #[arg(long)]
    pub conversations: Option<usize>,
    /// Override the preset's number of messages (at least one per conversation).
    #[arg(long)]
    pub messages: Option<u64>,
    /// RNG seed: the same seed and --until give the same data.
    #[arg(long, env = "PARLEY_SEED", default_value_t = 42)]
    pub seed: u64,
    /// End of the twelve-month window (exclusive), YYYY-MM-DD in UTC. Default: today.
    #[arg(long)]
    pub until: Option<chrono::NaiveDate>,
    /// Empty the seeded tables of the three schemas first if they hold anything.
    #[arg(long)]
    pub force: bool,
    /// Parallel COPY streams into persist.messages (events and watermarks get one each).
    #[arg(long, default_value_t = 2)]
    pub message_streams: usize,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    pub generators: usize,
    /// Parallel index builds after the load.
    #[arg(long, default_value_t = 2)]
    pub index_builders: usize,
    /// `maintenance_work_mem` of each index builder (a PostgreSQL size such as `1GB`): a sort
    /// that fits in it runs in memory instead of spilling to temporary files. The default
    /// suits the full preset on a 24 GiB machine (builders × this must fit in free memory).
    #[arg(long, default_value = "4GB")]
    pub index_memory: String,
    /// Afterwards, COPY the same rows into unindexed scratch tables and report the seeding
    /// rate as a fraction of that raw rate.
    #[arg(long)]
    pub measure_copy: bool,
    /// Messages in the --measure-copy sample (a prefix of the same conversations); 0 = all.
    #[arg(long, default_value_t = 5_000_000)]
    pub measure_sample: u64,
    /// Afterwards, check every invariant with SQL (full scans: minutes at the full preset).
    #[arg(long)]
    pub verify: bool,
    /// Seconds between progress lines on stderr; 0 = none.
    #[arg(long, default_value_t = 2.0)]
    pub progress_secs: f64,
}

impl Options {
    pub fn size(&self) -> preset::Size {
        let mut s = self.preset.size();
        if let Some(u) = self.users {
            s.users = u;
        }
        if let Some(c) = self.conversations {
            s.conversations = c;
        }
        if let Some(m) = self.messages {
            s.messages = m;
        }
        s
    }

    pub fn until(&self) -> chrono::NaiveDate {
        self.until
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    fn progress_every(&self) -> Option<std::time::Duration> {
        (self.progress_secs > 0.0).then(|| std::time::Duration::from_secs_f64(self.progress_secs))
    }
}
