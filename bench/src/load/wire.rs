//! What the parent and its worker processes say to each other: the parent writes a
//! [`WorkerPlan`] line and later a [`Go`] line on the child's stdin; the child answers with
//! [`Report`] lines on stdout (stderr is left to humans).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerPlan {
    pub worker: usize,
    pub base_url: String,
    /// (user id, access token, refresh token), the slice of accounts this worker connects.
    /// A device whose access token expires during a long run gets a new one with its
    /// refresh token, as a real client does.
    pub accounts: Vec<(Uuid, String, String)>,
    /// Every member of these lives in this worker, so send→receive, loss and duplication are
    /// measured inside one process with one clock.
    pub conversations: Vec<PlanConversation>,
    /// Connections per second this worker opens during the ramp.
    pub connect_rate: f64,
    pub phases: Vec<Phase>,
    /// Typing starts per second, this worker's share.
    pub typing_rate: f64,
    /// Share of received messages a recipient also marks read.
    pub read_share: f64,
    pub storm: Option<Storm>,
    /// After the schedule, how long to wait for stragglers before the final sync.
    pub settle_secs: u64,
    /// Metrics endpoints whose `parley_consumer_lag` must reach 0 (within `settle_secs`)
    /// before the final sync, so what is still queued is not counted as lost.
    pub quiesce: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanConversation {
    pub id: Uuid,
    /// Indices into `accounts`.
    pub members: Vec<usize>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Phase {
    pub secs: u64,
    /// Messages per second, this worker's share.
    pub rate: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Storm {
    /// Seconds after go at which every client drops its socket.
    pub at_secs: f64,
    /// Each client comes back after a uniform delay in [0, jitter_ms], then backs off on 503.
    pub jitter_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Go {
    pub go: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Report {
    Ready {
        connected: usize,
        failed: usize,
    },
    Progress {
        sent: u64,
        acked: u64,
        received: u64,
        connected: usize,
    },
    Done(Box<WorkerResult>),
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct WorkerResult {
    /// Sends scheduled (open loop), including those skipped because the sender was offline.
    pub scheduled: u64,
    pub sent: u64,
    pub skipped_offline: u64,
    pub acked: u64,
    /// Unacked sends written again, same id, after a reconnect.
    pub resent: u64,
    /// Sent, never acked (error or socket lost before the ack).
    pub unacked: u64,
    /// Unacked, yet stored (seen by some member): an ack lost with its socket.
    pub unacked_but_stored: u64,
    /// (acked message, member device) pairs that must exist at the end.
    pub expected: u64,
    /// … of which arrived live (`message:new`).
    pub received_live: u64,
    /// … of which arrived only through `sync` (after the reconnect storm or at the end).
    pub recovered_by_sync: u64,
    /// … of which never arrived, not even through the final `sync`.
    pub lost: u64,
    /// One seq naming two ids, or one id under two seqs, on any device.
    pub duplicated: u64,
    /// The same message delivered again to a device that had it (allowed: at-least-once).
    pub redelivered: u64,
    /// Conversation views with a hole in their seqs after the final sync.
    pub gaps: u64,
    pub errors: BTreeMap<String, u64>,
    /// Unplanned socket losses.
    pub disconnects: u64,
    pub reconnects: u64,
    /// Upgrades answered 503 (accept rate, full, draining).
    pub rejected_503: u64,
    pub typing_sent: u64,
    pub reads_sent: u64,
    pub delivered_sent: u64,
    /// Storm start → last client re-synced, milliseconds.
    pub storm_recovery_ms: Option<u64>,
    /// Histograms by name, V2 + base64 (see `hist.rs`).
    pub hists: BTreeMap<String, String>,
    /// Per-second histograms by name (second = send time since go).
    pub per_second: BTreeMap<String, Vec<String>>,
}
