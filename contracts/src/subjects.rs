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

/// Which event family a subject on EVENTS belongs to.
pub fn is_evt_msg(subject: &str) -> bool {
    subject.starts_with("chat.evt.msg.")
}
pub fn is_evt_member(subject: &str) -> bool {
    subject.starts_with("chat.evt.member.")
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

/// Per-user delivery (core NATS, not a stream): each edge connection subscribes to its user's.
pub fn user(user: Uuid) -> String {
    format!("chat.user.{user}")
}

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

/// Request/reply services (queue-grouped by service name).
pub mod svc {
    pub const DIRECTORY_QUEUE: &str = "directory";
    pub const HISTORY_QUEUE: &str = "history";
    pub const DIRECTORY_ALL: &str = "svc.directory.>";
    pub const HISTORY_ALL: &str = "svc.history.>";

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

    pub const HISTORY_PAGE: &str = "svc.history.page";
    pub const HISTORY_RANGE: &str = "svc.history.range";
    pub const HISTORY_SUMMARY: &str = "svc.history.summary";
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
