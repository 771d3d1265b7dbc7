//! Named data set sizes.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// CI-sized: 200 users, 500 conversations, 20,000 messages (seconds).
    Small,
    /// 10,000 users, 50,000 conversations, 2,000,000 messages.
    Medium,
    /// The scale proof: 100,000 users, 500,000 conversations, 50,000,000 messages.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub users: usize,
    pub conversations: usize,
    pub messages: u64,
}

impl Preset {
    pub fn size(self) -> Size {
        let (users, conversations, messages) = match self {
            Preset::Small => (200, 500, 20_000),
            Preset::Medium => (10_000, 50_000, 2_000_000),
            Preset::Full => (100_000, 500_000, 50_000_000),
        };
        Size {
            users,
            conversations,
            messages,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Medium => "medium",
            Preset::Full => "full",
        }
    }
}
