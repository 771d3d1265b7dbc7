//! The worst case of one message, built for real, fits the limits every page, reply, event and
//! frame is sized by.

use chrono::{DateTime, Utc};
use parley_contracts::api::{ForwardRef, LastMessage, Message, MessagePage, Reaction, ReplyRef};
use parley_contracts::events::{MessageEvent, MessageEventKind};
use parley_contracts::frames::ServerFrame;
use parley_contracts::limits::*;
use parley_contracts::svc::{ConversationSummary, RangeReply, SummaryReply};
use parley_contracts::validate;
use uuid::Uuid;

/// The latest instant chrono formats with nanoseconds: the longest timestamp.
fn late() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999999+00:00")
        .map(|t| t.with_timezone(&Utc))
        .expect("valid timestamp")
}

/// `n` distinct valid emoji of [`MAX_EMOJI_BYTES`] bytes each (eight four-byte characters).
fn emoji(n: usize) -> String {
    let mut s = String::new();
    let mut k = n;
    for _ in 0..MAX_EMOJI_BYTES / 4 {
        s.push(char::from_u32(0x1F600 + (k % 64) as u32).expect("emoji"));
        k /= 64;
    }
    assert!(validate::emoji(&s).is_ok(), "{s:?}");
    s
}

fn worst_message() -> Message {
    // A control character is the most expensive to escape (`\u0001`: six bytes).
    let body = "\u{1}".repeat(MAX_BODY_CHARS);
    assert!(validate::body(&body).is_ok());
    Message {
        id: Uuid::max(),
        seq: u64::MAX,
        conversation_id: Uuid::max(),
        sender_id: Uuid::max(),
        reply_to: Some(ReplyRef {
            id: Uuid::max(),
            sender_id: Uuid::max(),
            preview: validate::preview(&body),
        }),
        body,
        created_at: late(),
        edited_at: Some(late()),
        deleted: false,
        forwarded_from: Some(ForwardRef {
            conversation_id: Uuid::max(),
            message_id: Uuid::max(),
            sender_id: Uuid::max(),
        }),
        mentions: vec![Uuid::max(); MAX_MENTIONS],
        reactions: (0..MAX_REACTIONS)
            .map(|i| Reaction {
                emoji: emoji(i),
                user_ids: vec![Uuid::max()],
            })
            .collect(),
    }
}

#[test]
fn the_largest_message_fits_its_computed_bound() {
    let m = worst_message();
    let len = json_len(&m);
    assert_eq!(len, serde_json::to_vec(&m).unwrap().len());
    assert!(
        len <= MAX_MESSAGE_JSON_BYTES,
        "{len} > {MAX_MESSAGE_JSON_BYTES}"
    );
    // The bound is the real worst case, not a loose guess.
    assert!(len * 100 >= MAX_MESSAGE_JSON_BYTES * 99, "{len}");
}

#[test]
fn one_largest_message_fits_every_reply_event_and_frame() {
    let m = worst_message();
    let page = MessagePage {
        messages: vec![m.clone()],
        next_cursor: Some(u64::MAX),
        has_more: true,
    };
    let range = RangeReply {
        messages: vec![m.clone()],
        updates: vec![],
        last_seq: u64::MAX,
        has_more: true,
    };
    let event = MessageEvent {
        v: u16::MAX,
        kind: MessageEventKind::Updated,
        seq: u64::MAX,
        command_id: Uuid::max(),
        actor_id: Uuid::max(),
        at: late(),
        message: m.clone(),
    };
    let offline = ServerFrame::MessagesOffline {
        conversation_id: Uuid::max(),
        messages: vec![],
        updates: vec![m.clone()],
        last_seq: u64::MAX,
        has_more: true,
    };
    let sizes = [
        json_len(&parley_contracts::svc::Reply::<_>::Ok(page)),
        json_len(&parley_contracts::svc::Reply::<_>::Ok(range)),
        json_len(&event),
        offline.to_json().len(),
        ServerFrame::MessageUpdated {
            seq: u64::MAX,
            message: m,
        }
        .to_json()
        .len(),
    ];
    // MAX_MESSAGE_JSON_BYTES + PAGE_ENVELOPE_BYTES <= MAX_REPLY_BYTES holds at compile time.
    for size in sizes {
        assert!(
            size <= MAX_MESSAGE_JSON_BYTES + PAGE_ENVELOPE_BYTES,
            "{size}"
        );
    }
}

#[test]
fn a_full_summary_reply_fits() {
    let item = ConversationSummary {
        conversation_id: Uuid::max(),
        last_seq: u64::MAX,
        last_message: Some(LastMessage {
            seq: u64::MAX,
            sender_id: Uuid::max(),
            preview: validate::preview(&"\u{1}".repeat(MAX_BODY_CHARS)),
            created_at: late(),
        }),
        unread_count: u64::MAX,
    };
    let reply = parley_contracts::svc::Reply::<_>::Ok(SummaryReply {
        items: vec![item; MAX_SUMMARY_ITEMS],
    });
    let len = json_len(&reply);
    assert!(len <= MAX_REPLY_BYTES, "{len}");
}
