//! Receipts, presence and membership at the edge, shared by the WebSocket and REST paths:
//! one module per concern; the functions are re-exported here, where the callers find them.

mod membership;
mod presence;
mod receipts;

pub use membership::require_member;
pub use presence::{presence, visible_presence};
pub use receipts::{receipt, receipts};
