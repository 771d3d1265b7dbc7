//! Named load scenarios. Every number can be overridden on the command line.

use clap::ValueEnum;

use super::wire::{Phase, Storm};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Preset {
    /// CI: 50 connections, 100 msg/s for 10 s, one reconnect storm.
    Smoke,
    /// 10,000 connections, 1,000 msg/s for 5 minutes.
    Sustained,
    /// 10,000 connections, a 5,000 msg/s burst for 1 minute.
    Burst,
    /// 10,000 connections at 1,000 msg/s for 1 minute; all drop at 20 s and return within 10 s.
    Storm,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub connections: usize,
    pub phases: Vec<Phase>,
    pub typing_rate: f64,
    pub read_share: f64,
    pub storm: Option<Storm>,
}

impl Preset {
    pub fn scenario(self) -> Scenario {
        let (connections, rate, secs, storm) = match self {
            Preset::Smoke => (
                50,
                100.0,
                10,
                Some(Storm {
                    at_secs: 4.0,
                    jitter_ms: 1_000,
                }),
            ),
            Preset::Sustained => (10_000, 1_000.0, 300, None),
            Preset::Burst => (10_000, 5_000.0, 60, None),
            Preset::Storm => (
                10_000,
                1_000.0,
                60,
                Some(Storm {
                    at_secs: 20.0,
                    jitter_ms: 10_000,
                }),
            ),
        };
        Scenario {
            name: format!("{self:?}").to_lowercase(),
            connections,
            phases: vec![Phase { secs, rate }],
            // Typing: one start per second per 200 connections, at least 5/s.
            typing_rate: (connections as f64 / 200.0).max(5.0),
            read_share: 0.3,
            storm,
        }
    }
}
