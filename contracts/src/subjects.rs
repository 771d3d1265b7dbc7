//! Every NATS subject, stream, consumer and service name. No other crate spells one out.

use uuid::Uuid;

/// Stream names.
pub mod stream {
    pub const COMMANDS: &str = "COMMANDS";
    pub const EVENTS: &str = "EVENTS";
    pub const TYPING: &str = "TYPING";
    pub const PRESENCE: &str = "PRESENCE";
}

/// Durable consumer names (one per worker role; instances of a worker share it).
pub mod consumer {
    pub const PERSIST: &str = "persist";
    pub const DELIVERY: &str = "delivery";
    /// Presence changes (`chat.evt.presence.>`) on EVENTS, apart from `delivery`, so that a
    /// storm of them (everyone reconnecting) never holds messages back.
    pub const DELIVERY_PRESENCE: &str = "delivery-presence";
    /// Receipt commands (`chat.cmd.receipt.>`) on COMMANDS.
    pub const RECEIPTS: &str = "receipts";
    /// Every event (`chat.evt.>`) on EVENTS, from the first, for third-party readers: they
    /// pull from it and may not define consumers themselves (a push consumer's deliver
    /// subject is not checked against its creator's permissions, so it could aim EVENTS at
    /// any user's sockets).
    pub const INTEGRATOR: &str = "integrator";
}

/// Subject filters the streams capture.
pub const COMMANDS_ALL: &str = "chat.cmd.>";
pub const EVENTS_ALL: &str = "chat.evt.>";
pub const TYPING_ALL: &str = "chat.typing.>";
pub const PRESENCE_ALL: &str = "chat.presence.>";

/// Message commands (send, edit, delete, reactions) awaiting sequencing.
pub const CMD_MSG_ALL: &str = "chat.cmd.msg.>";
pub fn cmd_msg(conversation: Uuid) -> String {
    format!("chat.cmd.msg.{conversation}")
}

/// Sequenced message events (`message.created`, `message.updated`, `message.deleted`).
pub const EVT_MSG_ALL: &str = "chat.evt.msg.>";
pub fn evt_msg(conversation: Uuid) -> String {
    format!("chat.evt.msg.{conversation}")
}

/// Delivered/read receipts awaiting the receipts worker.
pub const CMD_RECEIPT_ALL: &str = "chat.cmd.receipt.>";
pub fn cmd_receipt(conversation: Uuid) -> String {
    format!("chat.cmd.receipt.{conversation}")
}

/// Live copies of sequenced message events: persist core-publishes each new event here as
/// soon as its transaction commits, beside storing it on EVENTS, so that delivery can route it
/// without waiting for the stream's synced write. At most once (core NATS): delivery routes
/// whichever copy of an event comes first and skips the other, and the EVENTS copy stays the
/// record. Not captured by any stream; integrators use `chat.evt.msg.>`.
pub const LIVE_MSG_ALL: &str = "chat.live.msg.>";
pub fn live_msg(conversation: Uuid) -> String {
    format!("chat.live.msg.{conversation}")
}
/// Live copies of receipt events, as [`LIVE_MSG_ALL`] for messages: the receipts worker
/// core-publishes each watermark change here once committed, beside storing it on EVENTS.
pub const LIVE_RECEIPT_ALL: &str = "chat.live.receipt.>";
pub fn live_receipt(conversation: Uuid) -> String {
    format!("chat.live.receipt.{conversation}")
}
pub fn is_live_receipt(subject: &str) -> bool {
    subject.starts_with("chat.live.receipt.")
}
/// Every live copy (what delivery subscribes to).
pub const LIVE_ALL: &str = "chat.live.>";
/// Queue group in which delivery instances share the live copies.
pub const LIVE_QUEUE: &str = "delivery-live";

/// A member's watermarks moved (`receipt.updated`).
pub const EVT_RECEIPT_ALL: &str = "chat.evt.receipt.>";
pub fn evt_receipt(conversation: Uuid) -> String {
    format!("chat.evt.receipt.{conversation}")
}

/// A user's visible presence changed (`presence.changed`), published by the presence worker.
pub const EVT_PRESENCE_ALL: &str = "chat.evt.presence.>";
pub fn evt_presence(user: Uuid) -> String {
    format!("chat.evt.presence.{user}")
}

/// A user's settings or blocks changed (`user.updated`), published by the directory.
pub const EVT_USER_ALL: &str = "chat.evt.user.>";
pub fn evt_user(user: Uuid) -> String {
    format!("chat.evt.user.{user}")
}

/// Which event family a subject on EVENTS belongs to.
pub fn is_evt_msg(subject: &str) -> bool {
    subject.starts_with("chat.evt.msg.")
}
pub fn is_evt_member(subject: &str) -> bool {
    subject.starts_with("chat.evt.member.")
}
pub fn is_evt_receipt(subject: &str) -> bool {
    subject.starts_with("chat.evt.receipt.")
}
pub fn is_evt_presence(subject: &str) -> bool {
    subject.starts_with("chat.evt.presence.")
}
/// Every request/reply service subject starts with this.
pub const SVC_PREFIX: &str = "svc.";

/// Membership and conversation metadata changes, published by the directory.
pub const EVT_MEMBER_ALL: &str = "chat.evt.member.>";
pub fn evt_member(conversation: Uuid) -> String {
    format!("chat.evt.member.{conversation}")
}

/// Typing notifications (core NATS; the TYPING memory stream keeps a few seconds for integrators).
pub fn typing(conversation: Uuid) -> String {
    format!("chat.typing.{conversation}")
}
/// Queue group in which delivery instances share typing routing.
pub const TYPING_QUEUE: &str = "delivery-typing";

/// Connection lifecycle and status choices from edges (core publish; the PRESENCE memory
/// stream keeps the last one per user for integrators). Presence instances share a queue group.
pub fn presence(user: Uuid) -> String {
    format!("chat.presence.{user}")
}
pub const PRESENCE_QUEUE: &str = "presence";

/// Per-user delivery (core NATS, not a stream): each edge connection subscribes to its user's.
pub fn user(user: Uuid) -> String {
    format!("chat.user.{user}")
}
/// Every user's delivery subject (what NATS permissions grant the edges and the publishers).
pub const USER_ALL: &str = "chat.user.>";

/// The benchmark's NATS round-trip baseline (`parley-bench latency`), under [`BENCH_ALL`].
pub const BENCH_ECHO: &str = "bench.echo";
pub const BENCH_ALL: &str = "bench.>";

/// Header on a `chat.user.<id>` frame that carries a message or receipt event: the event's key
/// ([`event_msg_id`], [`receipt_event_msg_id`]). An edge forwards one frame per key to a
/// socket, so an event routed twice (its live copy by one delivery instance, its EVENTS copy
/// by another) reaches a device once.
pub const EVENT_KEY_HEADER: &str = "Parley-Event";

/// The last `.`-separated token of a subject parsed as a UUID (`chat.evt.msg.<conv>` → conv).
pub fn trailing_id(subject: &str) -> Option<Uuid> {
    subject
        .rsplit('.')
        .next()
        .and_then(|t| Uuid::parse_str(t).ok())
}

/// `Nats-Msg-Id` of an event: the command id and the event kind, so that a redelivered command
/// republishes an event JetStream recognises as a duplicate.
pub fn event_msg_id(command: Uuid, kind: &str) -> String {
    format!("{command}:{kind}")
}

/// `Nats-Msg-Id` of a receipt event: the watermarks it carries, so one state is stored once.
pub fn receipt_event_msg_id(conversation: Uuid, user: Uuid, delivered: u64, read: u64) -> String {
    format!("{conversation}:{user}:{delivered}:{read}")
}

/// Request/reply services (queue-grouped by service name).
pub mod svc {
    pub const DIRECTORY_QUEUE: &str = "directory";
    pub const HISTORY_QUEUE: &str = "history";
    pub const DIRECTORY_ALL: &str = "svc.directory.>";
    pub const HISTORY_ALL: &str = "svc.history.>";
    pub const RECEIPTS_QUEUE: &str = "receipts";
    pub const RECEIPTS_ALL: &str = "svc.receipts.>";
    pub const PRESENCE_QUEUE: &str = "presence";
    pub const PRESENCE_ALL: &str = "svc.presence.>";

    pub const REGISTER: &str = "svc.directory.register";
    pub const LOGIN: &str = "svc.directory.login";
    pub const REFRESH: &str = "svc.directory.refresh";
    pub const LOGOUT: &str = "svc.directory.logout";
    pub const USER_GET: &str = "svc.directory.user.get";
    pub const USER_UPDATE: &str = "svc.directory.user.update";
    pub const USER_SEARCH: &str = "svc.directory.user.search";
    pub const CONV_CREATE: &str = "svc.directory.conv.create";
    pub const CONV_GET: &str = "svc.directory.conv.get";
    pub const CONV_LIST: &str = "svc.directory.conv.list";
    pub const CONV_UPDATE: &str = "svc.directory.conv.update";
    pub const MEMBERS_ADD: &str = "svc.directory.members.add";
    pub const MEMBERS_REMOVE: &str = "svc.directory.members.remove";
    pub const MEMBERS: &str = "svc.directory.members";
    pub const BLOCK: &str = "svc.directory.block";
    pub const UNBLOCK: &str = "svc.directory.unblock";
    pub const BLOCKS: &str = "svc.directory.blocks";
    /// Read-receipt settings of a set of users.
    pub const SETTINGS: &str = "svc.directory.settings";
    /// Who receives a user's presence changes (contacts, less blocks, none for `nobody`).
    pub const PRESENCE_AUDIENCE: &str = "svc.directory.presence.audience";
    /// Whose presence an actor may see.
    pub const PRESENCE_VISIBLE: &str = "svc.directory.presence.visible";

    pub const HISTORY_PAGE: &str = "svc.history.page";
    pub const HISTORY_RANGE: &str = "svc.history.range";
    pub const HISTORY_SUMMARY: &str = "svc.history.summary";
    pub const HISTORY_REPORT: &str = "svc.history.report";
    pub const HISTORY_LAST_SEQS: &str = "svc.history.last_seqs";

    pub const RECEIPTS_GET: &str = "svc.receipts.get";
    pub const RECEIPTS_MINE: &str = "svc.receipts.mine";

    pub const PRESENCE_GET: &str = "svc.presence.get";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_id_parses_the_last_token() {
        let id = Uuid::now_v7();
        assert_eq!(trailing_id(&evt_msg(id)), Some(id));
        assert_eq!(trailing_id("chat.evt.msg.not-a-uuid"), None);
        assert_eq!(trailing_id(""), None);
        assert!(is_evt_msg(&evt_msg(id)) && !is_evt_member(&evt_msg(id)));
        assert!(is_evt_member(&evt_member(id)) && !is_evt_msg(&evt_member(id)));
    }
}
