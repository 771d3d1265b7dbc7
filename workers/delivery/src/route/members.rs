//! Membership events → the conversation's new state to every member, `conversation:removed`
//! to whoever left; the member cache learns the change first.

use std::time::Duration;

use bytes::Bytes;
use parley_contracts::frames::ServerFrame;
use parley_kit::consume::Outcome;
use uuid::Uuid;

use super::Router;
use parley_contracts::events::MemberEvent;

impl Router {
    pub(super) async fn member_event(&self, evt: &MemberEvent) -> Outcome {
        let conv = evt.conversation.id;
        self.members.put_event(evt);
        // Removed users get the new state too (they see themselves gone), then `conversation:removed`.
        let ids: Vec<Uuid> = evt
            .conversation
            .members
            .iter()
            .map(|m| m.user_id)
            .chain(evt.removed.iter().copied())
            .collect();
        let updated = Bytes::from(
            ServerFrame::ConversationUpdated {
                conversation: evt.conversation.clone(),
            }
            .to_json(),
        );
        let removed = Bytes::from(
            ServerFrame::ConversationRemoved {
                conversation_id: conv,
            }
            .to_json(),
        );
        let ok = self.fan_out(&ids, updated, None).await
            && self.fan_out(&evt.removed, removed, None).await;
        if ok {
            Outcome::Ack
        } else {
            Outcome::Retry(Duration::from_millis(200))
        }
    }
}
