//! Limits enforced at the edge and re-checked by the workers that own the data.

/// Longest message body, in Unicode scalar values (characters).
pub const MAX_BODY_CHARS: usize = 100_000;
/// Largest WebSocket text frame the edge accepts, in bytes (a body of 100,000 four-byte
/// characters plus the envelope).
pub const MAX_FRAME_BYTES: usize = 512 * 1024;
/// Default cap on group size; the directory takes a configured value.
pub const DEFAULT_MAX_GROUP_MEMBERS: usize = 100;
/// Messages per `messages:offline` batch and the largest history page.
pub const SYNC_BATCH: usize = 50;
pub const MAX_PAGE: usize = 100;
/// Username: 3..=32 of `[a-z0-9_.-]` (compared case-insensitively).
pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;
pub const DISPLAY_NAME_MAX: usize = 64;
pub const GROUP_NAME_MAX: usize = 100;
pub const AVATAR_URL_MAX: usize = 2048;
pub const PREVIEW_CHARS: usize = 120;
pub const SEARCH_QUERY_MAX: usize = 64;
/// A report's reason, characters (several lines allowed).
pub const REPORT_REASON_MAX: usize = 1000;
pub const SEARCH_RESULTS: usize = 20;
/// Conversations a single `sync` may name.
pub const MAX_SYNC_CURSORS: usize = 10_000;
/// Conversations one `svc.history.last_seqs` request may ask about.
pub const MAX_LAST_SEQS: usize = 5000;
/// User ids one directory request about users (settings, visibility) may name.
pub const MAX_USER_IDS_PER_REQUEST: usize = 1000;
pub const MAX_MENTIONS: usize = 50;
pub const MAX_EMOJI_BYTES: usize = 32;
