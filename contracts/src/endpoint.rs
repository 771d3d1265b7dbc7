//! Every request/reply endpoint (`svc.*`), declared once: its subject, request type and reply
//! type. Callers send `E::Request` and get `E::Reply` (`parley_kit::service::request::<E>`),
//! services answer through the same types, and the AsyncAPI document lists [`all`].
//!
//! A reply travels as [`crate::svc::Reply`]: `{"ok": E::Reply}` or `{"error": ApiError}`.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    AuthResponse, Conversation, ConversationList, MessagePage, ReceiptList, ReportCreated, User,
    UserList,
};
use crate::subjects::svc as s;
use crate::svc;

/// One `svc.*` endpoint.
pub trait Endpoint {
    const SUBJECT: &'static str;
    /// What it does, for the AsyncAPI document.
    const SUMMARY: &'static str;
    type Request: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static;
    type Reply: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static;
}

/// An endpoint as data, for tables and documents.
#[derive(Clone, Copy)]
pub struct EndpointInfo {
    pub subject: &'static str,
    pub summary: &'static str,
    /// The service (queue group) that answers it: `svc.<service>.…`.
    pub service: &'static str,
    pub request: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    pub reply: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

impl EndpointInfo {
    pub fn of<E: Endpoint>() -> Self {
        Self {
            subject: E::SUBJECT,
            summary: E::SUMMARY,
            service: service_of(E::SUBJECT),
            request: |g| g.subschema_for::<E::Request>(),
            reply: |g| g.subschema_for::<E::Reply>(),
        }
    }
}

/// `svc.<service>.…` → `<service>`.
fn service_of(subject: &'static str) -> &'static str {
    subject.split('.').nth(1).unwrap_or(subject)
}

/// The endpoint a subject names, if any: service metrics label by it, anything else is `other`.
pub fn find(subject: &str) -> Option<&'static str> {
    SUBJECTS.iter().copied().find(|s| *s == subject)
}

macro_rules! endpoints {
    ($( $(#[$doc:meta])* $name:ident = $subject:expr, $summary:literal : $req:ty => $reply:ty; )*) => {
        $(
            $(#[$doc])*
            pub struct $name;
            impl Endpoint for $name {
                const SUBJECT: &'static str = $subject;
                const SUMMARY: &'static str = $summary;
                type Request = $req;
                type Reply = $reply;
            }
        )*
        /// Every endpoint, in declaration order.
        pub fn all() -> Vec<EndpointInfo> {
            vec![$(EndpointInfo::of::<$name>()),*]
        }
        /// Every endpoint's subject, in declaration order.
        pub const SUBJECTS: &[&str] = &[$($subject),*];
    };
}

endpoints! {
    // directory: accounts and tokens
    Register = s::REGISTER, "Create an account and log in": svc::Register => AuthResponse;
    Login = s::LOGIN, "Log in with username and password (throttled per username)": svc::Login => AuthResponse;
    Refresh = s::REFRESH, "Rotate a refresh token for new tokens": svc::Refresh => AuthResponse;
    Logout = s::LOGOUT, "Revoke the login a refresh token belongs to": svc::Logout => svc::Empty;
    // directory: users
    UserGet = s::USER_GET, "A user's profile as the actor may see it": svc::UserGet => User;
    UserUpdate = s::USER_UPDATE, "Update the actor's profile and settings": svc::UserUpdate => User;
    UserSearch = s::USER_SEARCH, "Find users by username prefix or display name": svc::UserSearch => UserList;
    // directory: conversations and membership
    ConvCreate = s::CONV_CREATE, "Create a group, or open a direct conversation": svc::ConvCreate => svc::ConvCreated;
    ConvGet = s::CONV_GET, "One conversation (members only)": svc::ConvGet => Conversation;
    ConvList = s::CONV_LIST, "The actor's conversations": svc::ConvList => ConversationList;
    ConvUpdate = s::CONV_UPDATE, "Rename a group (admins)": svc::ConvUpdate => Conversation;
    MembersAdd = s::MEMBERS_ADD, "Add members to a group (admins)": svc::MembersAdd => Conversation;
    MembersRemove = s::MEMBERS_REMOVE, "Remove a member (admins) or leave": svc::MembersRemove => Conversation;
    /// Asked by the member caches of the edge and delivery on a miss.
    MembersGet = s::MEMBERS, "The members of a conversation and their roles": svc::Members => svc::MembersReply;
    // directory: privacy
    Block = s::BLOCK, "Block a user": svc::Block => svc::Empty;
    Unblock = s::UNBLOCK, "Unblock a user": svc::Block => svc::Empty;
    Blocks = s::BLOCKS, "Users the actor blocked": svc::Blocks => UserList;
    SettingsGet = s::SETTINGS, "Read-receipt settings of a set of users": svc::SettingsGet => svc::SettingsReply;
    PresenceAudience = s::PRESENCE_AUDIENCE, "Who receives a user's presence changes": svc::PresenceAudience => svc::UserIds;
    PresenceVisible = s::PRESENCE_VISIBLE, "Whose presence the actor may see": svc::PresenceVisible => svc::UserIds;
    // history (persist)
    HistoryPage = s::HISTORY_PAGE, "A page of a conversation's history, newest first": svc::HistoryPage => MessagePage;
    HistoryRange = s::HISTORY_RANGE, "Events of a conversation after a seq (sync)": svc::HistoryRange => svc::RangeReply;
    HistorySummary = s::HISTORY_SUMMARY, "Last message and unread count per conversation": svc::HistorySummary => svc::SummaryReply;
    HistoryReport = s::HISTORY_REPORT, "Report a message to the moderators": svc::Report => ReportCreated;
    HistoryLastSeqs = s::HISTORY_LAST_SEQS, "The last seq of each of a set of conversations": svc::LastSeqs => svc::LastSeqsReply;
    // receipts
    ReceiptsGet = s::RECEIPTS_GET, "Every member's watermarks in a conversation (unmasked)": svc::ReceiptsGet => ReceiptList;
    ReceiptsMine = s::RECEIPTS_MINE, "A user's watermarks in a set of conversations": svc::ReceiptsMine => svc::WatermarkList;
    // presence
    PresenceGet = s::PRESENCE_GET, "What others see of a set of users (status, last seen)": svc::PresenceGet => svc::PresenceReply;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_listed_once_under_its_service() {
        let all = all();
        assert_eq!(all.len(), SUBJECTS.len());
        let mut subjects: Vec<&str> = all.iter().map(|e| e.subject).collect();
        subjects.sort_unstable();
        subjects.dedup();
        assert_eq!(subjects.len(), all.len(), "an endpoint is declared twice");
        for e in &all {
            assert!(e.subject.starts_with(&format!("svc.{}.", e.service)));
        }
        assert_eq!(find(s::HISTORY_LAST_SEQS), Some(s::HISTORY_LAST_SEQS));
        assert_eq!(find("svc.history.nope"), None);
    }
}
