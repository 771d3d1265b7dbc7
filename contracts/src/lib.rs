//! Parley's contracts: every type, subject name and limit that crosses a process boundary.
//!
//! This crate does no I/O and depends on no runtime (no tokio, axum, async-nats, sqlx): it is
//! what the edge, the workers, the SDKs and integrators agree on. Internal types of a binary
//! convert into these explicitly; nothing else is put on the wire.

pub mod api;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod frames;
pub mod limits;
pub mod schema;
pub mod subjects;
pub mod svc;
pub mod validate;

pub use error::ErrorCode;

/// Version stamped on every envelope that travels through a stream; bumped on a breaking change.
pub const SCHEMA_VERSION: u16 = 1;
