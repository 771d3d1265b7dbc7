import { useCallback, useEffect, useMemo, useState } from 'react';
import type { Message } from '../sdk/types';
import { blockState, conversationTitle, directPeer, displayName, myReadSeq, typingText } from '../store/selectors';
import type { ConversationState } from '../store/state';
import { errorText } from './AuthScreen';
import { Avatar } from './Avatar';
import { Composer } from './Composer';
import { lastSeenText } from './format';
import { ForwardDialog } from './ForwardDialog';
import { GroupInfo } from './GroupInfo';
import { useChat, useController, useNow } from './hooks';
import { MessageList } from './MessageList';
import { ReportDialog } from './ReportDialog';

/**
 * Read watermark used for the "New messages" divider. Without a receipt for
 * the user, it is derived from the server's unread count.
 */
function readMarker(cs: ConversationState, meId: string): number {
  if (cs.receipts[meId]) return myReadSeq(cs, meId);
  let unread = cs.conversation.unreadCount;
  for (let i = cs.messages.length - 1; i >= 0; i--) {
    const m = cs.messages[i]!;
    if (m.senderId === meId) return m.seq;
    if (unread <= 0) return m.seq;
    unread--;
  }
  return 0;
}

export function ConversationView({ id, onBack }: { id: string; onBack: () => void }) {
  const ctl = useController();
  const cs = useChat((s) => s.conversations[id]);
  const me = useChat((s) => s.me);
  const users = useChat((s) => s.users);
  const presence = useChat((s) => s.presence);
  const blocked = useChat((s) => s.blocked);
  const reported = useChat((s) => s.reported);
  const now = useNow(30_000);
  const [reporting, setReporting] = useState<Message | null>(null);
  const [unblockError, setUnblockError] = useState<string | null>(null);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [editing, setEditing] = useState<Message | null>(null);
  const [forwarding, setForwarding] = useState<Message | null>(null);
  const [infoOpen, setInfoOpen] = useState(false);
  const [marker, setMarker] = useState<number | null>(null);
  const meId = me?.id ?? '';

  // Snapshot the read watermark once history is there, so the divider stays put while reading.
  const loaded = cs?.historyLoaded ?? false;
  const connection = useChat((s) => s.connection);
  const loading = cs?.loadingBefore ?? false;
  useEffect(() => {
    // A first load that failed (offline) is retried when the connection is back.
    if (!loaded && !loading && connection === 'online') void ctl.openConversation(id);
  }, [loaded, loading, connection, ctl, id]);
  useEffect(() => {
    if (loaded && marker === null && cs) setMarker(readMarker(cs, meId));
  }, [loaded, marker, cs, meId]);

  const state = useMemo(() => ({ users }), [users]);
  const members = cs?.conversation.members;
  const mentionMap = useMemo(() => {
    const map: Record<string, string> = {};
    for (const m of members ?? []) map[m.username] = m.userId;
    return map;
  }, [members]);

  const actions = useMemo(
    () => ({
      reply: (m: Message) => {
        setEditing(null);
        setReplyTo(m);
      },
      edit: (m: Message) => {
        setReplyTo(null);
        setEditing(m);
      },
      remove: (m: Message) => void ctl.deleteMessage(m.conversationId, m.id),
      forward: (m: Message) => setForwarding(m),
      react: (m: Message, emoji: string) => void ctl.toggleReaction(m.conversationId, m.id, emoji),
      report: (m: Message) => setReporting(m),
      retry: (mid: string) => ctl.retry(mid),
      discard: (mid: string) => ctl.discard(mid),
    }),
    [ctl],
  );

  const onEditLast = useCallback(() => {
    const list = ctl.state.conversations[id]?.messages ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const m = list[i]!;
      if (m.senderId === meId && !m.deleted) {
        setEditing(m);
        return;
      }
    }
  }, [ctl, id, meId]);

  if (!cs) {
    return (
      <div className="empty-main">
        <p>This conversation is not available.</p>
        <button type="button" onClick={onBack}>
          Back
        </button>
      </div>
    );
  }

  const c = cs.conversation;
  const title = conversationTitle(c, meId, users);
  const peer = directPeer(c, meId);
  const peerPresence = peer ? presence[peer] : undefined;
  const typing = typingText({ users }, cs, Date.now());
  const block = blockState({ blocked, me }, cs);
  const subtitle =
    typing ??
    (c.type === 'group'
      ? `${c.members.length} members`
      : block
        ? 'blocked'
        : peerPresence
          ? peerPresence.status === 'offline'
            ? lastSeenText(peerPresence.lastSeen, new Date(now))
            : peerPresence.status
          : '');

  return (
    <section className="conversation" aria-label={`Conversation with ${title}`} data-testid="conversation-view" data-conversation-id={id}>
      <header className="conversation-header">
        <button type="button" className="icon-button back-button" onClick={onBack} aria-label="Back to chats" data-testid="back-to-list">
          ←
        </button>
        <Avatar
          name={title}
          seed={peer ?? c.id}
          url={peer ? users[peer]?.avatarUrl : null}
          size={38}
          presence={peer && !block ? (peerPresence?.status ?? null) : null}
        />
        <div className="conversation-titles">
          <h2 data-testid="conversation-title">{title}</h2>
          <p
            className={typing ? 'typing' : 'muted'}
            data-testid={typing ? 'typing-indicator' : 'conversation-subtitle'}
            data-presence={peer && !typing && !block ? (peerPresence?.status ?? '') : undefined}
            aria-live="polite"
          >
            {subtitle}
          </p>
        </div>
        <button type="button" className="icon-button" onClick={() => setInfoOpen(true)} aria-label="Conversation info" data-testid="open-info">
          <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="2">
            <circle cx="12" cy="12" r="9" />
            <path d="M12 11v6M12 7.5v.5" strokeLinecap="round" />
          </svg>
        </button>
      </header>
      {cs.historyLoaded && marker !== null ? (
        <MessageList
          cs={cs}
          state={state}
          meId={meId}
          readMarkerSeq={marker}
          actions={actions}
          mentionMap={mentionMap}
          reported={reported}
        />
      ) : (
        <div className="message-list-wrap">
          <div className="list-empty-conversation muted" role="status">
            Loading messages…
          </div>
        </div>
      )}
      {block ? (
        <div className="blocked-notice" role="status" data-testid="blocked-notice" data-blocked={block}>
          {block === 'byMe' ? (
            <>
              <span>You blocked {title}. Neither of you can send messages here.</span>
              <button
                type="button"
                className="small"
                onClick={() => {
                  setUnblockError(null);
                  if (peer) ctl.unblockUser(peer).catch((err: unknown) => setUnblockError(errorText(err)));
                }}
                data-testid="unblock-user"
              >
                Unblock
              </button>
            </>
          ) : (
            <span>You can’t send messages in this conversation.</span>
          )}
          {unblockError && (
            <span className="form-error" role="alert">
              {unblockError}
            </span>
          )}
        </div>
      ) : (
      <Composer
        conversationId={id}
        members={c.members}
        meId={meId}
        replyTo={replyTo}
        replyToName={replyTo ? displayName({ users }, replyTo.senderId) : ''}
        editing={editing}
        onSend={(body, mentions) => {
          ctl.send(id, body, { replyTo, mentions });
          setReplyTo(null);
        }}
        onSaveEdit={(m, body) => {
          ctl.edit(id, m.id, body);
          setEditing(null);
        }}
        onCancel={() => {
          setEditing(null);
          setReplyTo(null);
        }}
        onTyping={() => ctl.typingInput(id)}
        onStopTyping={() => ctl.typingStop(id)}
        onEditLast={onEditLast}
      />
      )}
      {infoOpen && <GroupInfo id={id} onClose={() => setInfoOpen(false)} />}
      {reporting && (
        <ReportDialog
          message={reporting}
          senderName={displayName({ users }, reporting.senderId)}
          onReport={(reason) => ctl.reportMessage(reporting.conversationId, reporting.id, reason)}
          onClose={() => setReporting(null)}
        />
      )}
      {forwarding && (
        <ForwardDialog
          message={forwarding}
          onClose={() => setForwarding(null)}
          onDone={(target) => {
            setForwarding(null);
            if (target !== id) window.location.hash = `#/c/${target}`;
          }}
        />
      )}
    </section>
  );
}
