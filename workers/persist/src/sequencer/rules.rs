//! The rules of the commands that change a stored message: who may edit or delete it and
//! until when, and how reactions aggregate. Each allocates the command's seq only once it is
//! accepted, so a rejection leaves the allocator untouched.

use chrono::{DateTime, Utc};
use parley_contracts::api::{Message, Reaction};
use parley_contracts::events::{MessageAction, MessageCommand, MessageEventKind};
use parley_contracts::limits::MAX_REACTIONS;
use parley_contracts::{ErrorCode, validate};
use sqlx::PgConnection;
use uuid::Uuid;

use super::single::allocate;
use super::{Failure, Sequencer, reject};

impl Sequencer {
    /// An edit: by the author only, within the edit window.
    pub(super) async fn edit(
        &self,
        conn: &mut PgConnection,
        cmd: &MessageCommand,
        message_id: Uuid,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(MessageEventKind, Message, u64), Failure> {
        validate::body(body).map_err(Failure::Rejected)?;
        let mut msg = self.target(conn, cmd, message_id).await?;
        if msg.sender_id != cmd.sender_id {
            return Err(reject(
                ErrorCode::Forbidden,
                "only the author can edit a message",
            ));
        }
        if now - msg.created_at > self.edit_window {
            return Err(reject(
                ErrorCode::EditWindowClosed,
                "this message can no longer be edited",
            ));
        }
        let seq = allocate(conn, cmd.conversation_id).await?;
        sqlx::query("UPDATE messages SET body = $2, edited_at = $3 WHERE id = $1")
            .bind(msg.id)
            .bind(body)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        msg.body = body.to_string();
        msg.edited_at = Some(now);
        Ok((MessageEventKind::Updated, msg, seq))
    }

    /// A delete for everyone: by the author within the delete window, or by a group admin.
    pub(super) async fn delete(
        &self,
        conn: &mut PgConnection,
        cmd: &MessageCommand,
        message_id: Uuid,
        as_admin: bool,
        now: DateTime<Utc>,
    ) -> Result<(MessageEventKind, Message, u64), Failure> {
        let mut msg = self.target(conn, cmd, message_id).await?;
        let author = msg.sender_id == cmd.sender_id;
        if !author && !as_admin {
            return Err(reject(
                ErrorCode::Forbidden,
                "only the author or a group admin can delete a message",
            ));
        }
        if author && !as_admin && now - msg.created_at > self.delete_window {
            return Err(reject(
                ErrorCode::EditWindowClosed,
                "this message can no longer be deleted",
            ));
        }
        let seq = allocate(conn, cmd.conversation_id).await?;
        sqlx::query(
            "UPDATE messages SET body = '', deleted_at = $2, reactions = '[]', mentions = '{}', reply_to = NULL,
             forwarded_from = NULL WHERE id = $1",
        )
        .bind(msg.id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        msg.body.clear();
        msg.deleted = true;
        msg.reactions.clear();
        msg.mentions.clear();
        msg.reply_to = None;
        msg.forwarded_from = None;
        Ok((MessageEventKind::Deleted, msg, seq))
    }

    /// A reaction added or removed by the actor.
    pub(super) async fn react(
        &self,
        conn: &mut PgConnection,
        cmd: &MessageCommand,
        message_id: Uuid,
        emoji: &str,
    ) -> Result<(MessageEventKind, Message, u64), Failure> {
        validate::emoji(emoji).map_err(Failure::Rejected)?;
        let add = matches!(cmd.action, MessageAction::ReactionAdd { .. });
        let mut msg = self.target(conn, cmd, message_id).await?;
        apply_reaction(&mut msg.reactions, emoji, cmd.sender_id, add);
        // Bounds the message's size (`limits::MAX_MESSAGE_JSON_BYTES`).
        if msg
            .reactions
            .iter()
            .map(|r| r.user_ids.len())
            .sum::<usize>()
            > MAX_REACTIONS
        {
            return Err(reject(
                ErrorCode::Conflict,
                "this message has as many reactions as it can hold",
            ));
        }
        let seq = allocate(conn, cmd.conversation_id).await?;
        sqlx::query("UPDATE messages SET reactions = $2 WHERE id = $1")
            .bind(msg.id)
            .bind(serde_json::to_value(&msg.reactions).unwrap_or_else(|_| serde_json::json!([])))
            .execute(&mut *conn)
            .await?;
        Ok((MessageEventKind::Updated, msg, seq))
    }
}

/// Reactions aggregated per emoji, in first-use order; an emoji nobody uses any more goes away.
pub fn apply_reaction(reactions: &mut Vec<Reaction>, emoji: &str, user: Uuid, add: bool) {
    match reactions.iter_mut().position(|r| r.emoji == emoji) {
        Some(i) => {
            let users = &mut reactions[i].user_ids;
            if add {
                if !users.contains(&user) {
                    users.push(user);
                }
            } else {
                users.retain(|u| *u != user);
                if users.is_empty() {
                    reactions.remove(i);
                }
            }
        }
        None if add => reactions.push(Reaction {
            emoji: emoji.to_string(),
            user_ids: vec![user],
        }),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_aggregate_per_emoji() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut r = Vec::new();
        apply_reaction(&mut r, "👍", a, true);
        apply_reaction(&mut r, "👍", b, true);
        apply_reaction(&mut r, "👍", a, true);
        apply_reaction(&mut r, "❤️", a, true);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].user_ids, vec![a, b]);
        apply_reaction(&mut r, "❤️", a, false);
        apply_reaction(&mut r, "🎉", a, false);
        assert_eq!(r.len(), 1);
    }
}
