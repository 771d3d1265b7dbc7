//! Receipt events → `message:status` to every member, the read watermark masked per viewer
//! by read-receipt settings (asked for a batch at once).

use std::time::Duration;

use bytes::Bytes;
use parley_contracts::frames::ServerFrame;
use parley_kit::consume::Outcome;
use parley_kit::metrics_names as m;
use uuid::Uuid;

use super::{Router, Via};
use parley_contracts::events::ReceiptEvent;
use parley_contracts::subjects;
use parley_kit::settings::visible_read_seq;

impl Router {
    /// A member's watermarks → `message:status` to every member, the read watermark masked
    /// for anyone on either side of a read-receipts-off setting. Either copy (live or EVENTS),
    /// whichever comes first, as for message events; the other is skipped.
    pub(super) async fn receipt_event(&self, evt: &ReceiptEvent, via: Via) -> Outcome {
        let key = subjects::receipt_event_msg_id(
            evt.conversation_id,
            evt.user_id,
            evt.delivered_seq,
            evt.read_seq,
        );
        // Its other copy may have been routed since this one was decoded.
        if self.second_copy(&key, via) {
            return Outcome::Ack;
        }
        let members = match self.members.members(evt.conversation_id).await {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(%error, "members unavailable; retrying");
                return Outcome::Retry(Duration::from_millis(500));
            }
        };
        let ids: Vec<Uuid> = members.iter().map(|(u, _)| *u).collect();
        let settings = match self.settings.read_receipts(&ids).await {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "settings unavailable; retrying");
                return Outcome::Retry(Duration::from_millis(500));
            }
        };
        let frame = |read_seq| {
            Bytes::from(
                ServerFrame::MessageStatus {
                    conversation_id: evt.conversation_id,
                    user_id: evt.user_id,
                    delivered_seq: evt.delivered_seq,
                    read_seq,
                }
                .to_json(),
            )
        };
        let (full, masked) = (frame(evt.read_seq), frame(0));
        for viewer in &ids {
            let shown = visible_read_seq(&settings, *viewer, evt.user_id, evt.read_seq);
            let bytes = if shown == evt.read_seq {
                full.clone()
            } else {
                masked.clone()
            };
            if !self.fan_out(&[*viewer], bytes, Some(&key)).await {
                return Outcome::Retry(Duration::from_millis(200));
            }
        }
        self.recent.insert(key);
        metrics::counter!(m::MESSAGES_DELIVERED, "kind" => "receipt.updated")
            .increment(ids.len() as u64);
        Outcome::Ack
    }

    /// The read-receipt settings of every member of the conversations whose receipts a batch
    /// routes (`receipt_subjects`), asked for together (their members are cached by now).
    pub(super) async fn prefetch_settings<'a>(
        &self,
        receipt_subjects: impl Iterator<Item = &'a str>,
    ) {
        let mut convs: Vec<Uuid> = receipt_subjects.filter_map(subjects::trailing_id).collect();
        if convs.is_empty() {
            return;
        }
        convs.sort();
        convs.dedup();
        let mut users = Vec::new();
        for conv in convs {
            if let Ok(members) = self.members.members(conv).await {
                users.extend(members.iter().map(|(u, _)| *u));
            }
        }
        users.sort();
        users.dedup();
        self.settings.prefetch(&users).await;
    }
}
