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

/// Reactions (one user's one emoji) a message holds at most; what bounds a message's size
/// beside its body.
pub const MAX_REACTIONS: usize = 1000;

/// NATS' `max_payload` in every shipped nats-server config (and the server's default): the
/// largest message, headers included, that any subject carries.
pub const NATS_MAX_PAYLOAD: usize = 1024 * 1024;
/// Room kept under [`NATS_MAX_PAYLOAD`] for a message's headers (trace id, deadline,
/// `Nats-Msg-Id`, event key, reply subject).
pub const NATS_HEADER_ROOM: usize = 8 * 1024;
/// The largest service reply, event or frame payload a Parley process publishes on NATS.
pub const MAX_REPLY_BYTES: usize = NATS_MAX_PAYLOAD - NATS_HEADER_ROOM;

/// Bytes a character of a body can take in JSON: serde_json writes a control character other
/// than `\b \t \n \f \r` as `\u00XX` (one byte → six); nothing else takes more than four.
pub const MAX_ESCAPED_CHAR_BYTES: usize = 6;
/// A UUID in JSON with its quotes and a separating comma.
const UUID_JSON_BYTES: usize = 36 + 3;
/// Keys, ids, numbers, timestamps and punctuation of a message beside its body, preview,
/// mentions and reactions (about 450 bytes in practice).
const MESSAGE_FIXED_JSON_BYTES: usize = 1024;
/// One reaction entry with a single user, the largest per reaction:
/// `{"emoji":"…","userIds":["…"]},`.
const REACTION_JSON_BYTES: usize =
    r#"{"emoji":"","userIds":[]},"#.len() + MAX_EMOJI_BYTES + UUID_JSON_BYTES;

/// The most bytes one message (`api::Message`) can take as JSON: a body of
/// [`MAX_BODY_CHARS`] control characters, a reply quote of the same, every mention and every
/// reaction at their limits. A single message therefore always fits in a page and a reply.
pub const MAX_MESSAGE_JSON_BYTES: usize = MAX_BODY_CHARS * MAX_ESCAPED_CHAR_BYTES
    + (PREVIEW_CHARS * MAX_ESCAPED_CHAR_BYTES + '…'.len_utf8())
    + MAX_MENTIONS * UUID_JSON_BYTES
    + MAX_REACTIONS * REACTION_JSON_BYTES
    + MESSAGE_FIXED_JSON_BYTES;

/// Bytes of messages (their JSON) one history page or `sync` batch carries at most, besides
/// the count limit: a page that would pass it stops early with `hasMore` (and `nextCursor`),
/// and the client keeps paging. Its first message always goes, whatever its size.
pub const PAGE_BYTES: usize = 256 * 1024;
/// What a page's reply or frame holds besides its messages (keys, cursors, separators).
pub const PAGE_ENVELOPE_BYTES: usize = 4 * 1024;
/// Conversations one `svc.history.summary` (and `svc.receipts.mine`) request may ask about: a
/// summary item (ids, counters, a preview of [`PREVIEW_CHARS`]) takes at most about 1 KiB.
pub const MAX_SUMMARY_ITEMS: usize = 500;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

// A page's largest reply — a budget's worth of messages or one message of the largest size,
// plus its envelope — fits in one NATS message by construction.
const _: () =
    assert!(max(PAGE_BYTES, MAX_MESSAGE_JSON_BYTES) + PAGE_ENVELOPE_BYTES <= MAX_REPLY_BYTES);

/// The length of `value`'s JSON, without keeping it.
pub fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; a value that cannot be serialized is not sent either.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
