import { memo, useMemo, useRef, useState } from 'react';
import type { ChatState, ConversationState } from '../store/state';
import { conversationTitle, directPeer, lastActivity, lastPreview, sortedConversations, typingText } from '../store/selectors';
import { Avatar } from './Avatar';
import { listTime } from './format';
import { useChat } from './hooks';

export function ConversationList({ activeId, onOpen }: { activeId: string | null; onOpen: (id: string) => void }) {
  const conversations = useChat((s) => s.conversations);
  const users = useChat((s) => s.users);
  const presence = useChat((s) => s.presence);
  const me = useChat((s) => s.me);
  const [filter, setFilter] = useState('');
  const listRef = useRef<HTMLUListElement>(null);
  const state = useMemo(() => ({ conversations, users, me, presence }), [conversations, users, me, presence]);
  const sorted = useMemo(() => sortedConversations({ conversations }), [conversations]);
  const q = filter.trim().toLowerCase();
  const visible = q
    ? sorted.filter((cs) => conversationTitle(cs.conversation, me?.id, users).toLowerCase().includes(q))
    : sorted;

  // Arrow keys move between conversations; Tab leaves the list.
  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const items = [...(listRef.current?.querySelectorAll<HTMLButtonElement>('button.conversation-item') ?? [])];
    const i = items.indexOf(document.activeElement as HTMLButtonElement);
    const next = items[Math.min(Math.max(i + (e.key === 'ArrowDown' ? 1 : -1), 0), items.length - 1)];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  };

  return (
    <nav className="conversation-list" aria-label="Chats">
      <div className="list-search">
        <input
          type="search"
          placeholder="Search chats"
          aria-label="Search chats"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          data-testid="conversation-filter"
        />
      </div>
      {visible.length === 0 ? (
        <p className="muted list-empty">{q ? 'No chat matches.' : 'No conversations yet. Start one with “New chat”.'}</p>
      ) : (
        <ul ref={listRef} onKeyDown={onKeyDown} data-testid="conversation-list">
          {visible.map((cs) => (
            <li key={cs.conversation.id}>
              <ConversationItem cs={cs} state={state} active={cs.conversation.id === activeId} onOpen={onOpen} />
            </li>
          ))}
        </ul>
      )}
    </nav>
  );
}

const ConversationItem = memo(function ConversationItem({
  cs,
  state,
  active,
  onOpen,
}: {
  cs: ConversationState;
  state: Pick<ChatState, 'users' | 'me' | 'presence'>;
  active: boolean;
  onOpen: (id: string) => void;
}) {
  const c = cs.conversation;
  const title = conversationTitle(c, state.me?.id, state.users);
  const peer = directPeer(c, state.me?.id);
  const presence = peer ? (state.presence[peer]?.status ?? null) : null;
  const typing = typingText(state, cs, Date.now());
  const unread = c.unreadCount;
  const failed = cs.pending.some((p) => p.status === 'failed');
  return (
    <button
      type="button"
      className={`conversation-item${active ? ' active' : ''}${unread > 0 ? ' unread' : ''}`}
      onClick={() => onOpen(c.id)}
      aria-current={active ? 'true' : undefined}
      aria-label={`${title}${unread ? `, ${unread} unread` : ''}`}
      data-testid="conversation-item"
      data-conversation-id={c.id}
      data-title={title}
    >
      <Avatar
        name={title}
        seed={peer ?? c.id}
        url={peer ? state.users[peer]?.avatarUrl : null}
        presence={peer ? presence : null}
      />
      <span className="item-main">
        <span className="item-top">
          <span className="item-title">{title}</span>
          <span className="item-time">{listTime(lastActivity(cs))}</span>
        </span>
        <span className="item-bottom">
          {typing ? (
            <span className="item-typing" data-testid="typing-hint">
              {typing}
            </span>
          ) : (
            <span className="item-preview" data-testid="conversation-preview">
              {failed ? '⚠ ' : ''}
              {lastPreview(state, cs)}
            </span>
          )}
          {unread > 0 && (
            <span className="unread-badge" data-testid="unread-badge" aria-hidden="true">
              {unread > 999 ? '999+' : unread}
            </span>
          )}
        </span>
      </span>
    </button>
  );
});
