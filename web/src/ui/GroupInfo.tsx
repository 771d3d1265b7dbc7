import { useState } from 'react';
import { conversationTitle, directPeer } from '../store/selectors';
import { errorText } from './AuthScreen';
import { Avatar } from './Avatar';
import { lastSeenText } from './format';
import { useChat, useController } from './hooks';
import { Modal } from './Modal';
import { UserSearch } from './UserSearch';

/** Conversation details: members, roles, rename, add/remove, leave; block for direct chats. */
export function GroupInfo({ id, onClose }: { id: string; onClose: () => void }) {
  const ctl = useController();
  const cs = useChat((s) => s.conversations[id]);
  const me = useChat((s) => s.me);
  const users = useChat((s) => s.users);
  const presence = useChat((s) => s.presence);
  const blocked = useChat((s) => s.blocked);
  const [confirmBlock, setConfirmBlock] = useState(false);
  const [name, setName] = useState(cs?.conversation.name ?? '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmLeave, setConfirmLeave] = useState(false);
  if (!cs) return null;
  const c = cs.conversation;
  const isAdmin = c.members.some((m) => m.userId === me?.id && m.role === 'admin');
  const title = conversationTitle(c, me?.id, users);

  const act = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (c.type === 'direct') {
    const peer = directPeer(c, me?.id);
    const p = peer ? presence[peer] : undefined;
    const iBlocked = peer ? Boolean(blocked[peer]) : false;
    return (
      <Modal title="Contact info" onClose={onClose} testId="conversation-info">
        <div className="info-head">
          <Avatar name={title} seed={peer ?? c.id} url={peer ? users[peer]?.avatarUrl : null} size={64} />
          <div>
            <h3>{title}</h3>
            <p className="muted">@{users[peer ?? '']?.username}</p>
            <p className="muted" data-testid="info-presence">
              {c.blocked ? 'blocked' : p?.status === 'offline' || !p ? lastSeenText(p?.lastSeen ?? null) : p.status}
            </p>
          </div>
        </div>
        {error && <p className="form-error" role="alert">{error}</p>}
        {peer && (
          <div className="dialog-actions">
            {iBlocked ? (
              <button type="button" disabled={busy} onClick={() => act(() => ctl.unblockUser(peer))} data-testid="unblock-user-info">
                Unblock
              </button>
            ) : confirmBlock ? (
              <>
                <span>Block {title}? Neither of you will be able to send messages here.</span>
                <button type="button" onClick={() => setConfirmBlock(false)}>
                  Cancel
                </button>
                <button
                  type="button"
                  className="danger"
                  disabled={busy}
                  onClick={() =>
                    act(async () => {
                      await ctl.blockUser(peer);
                      setConfirmBlock(false);
                      onClose();
                    })
                  }
                  data-testid="confirm-block"
                >
                  Block
                </button>
              </>
            ) : (
              <button type="button" className="danger" onClick={() => setConfirmBlock(true)} data-testid="block-user">
                Block
              </button>
            )}
          </div>
        )}
      </Modal>
    );
  }

  return (
    <Modal title="Group info" onClose={onClose} testId="conversation-info">
      {isAdmin ? (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim()) void act(() => ctl.renameGroup(id, name.trim()));
          }}
        >
          <label>
            Group name
            <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} data-testid="rename-group-input" />
          </label>
          <button type="submit" disabled={busy || !name.trim() || name.trim() === c.name}>
            Rename
          </button>
        </form>
      ) : (
        <h3>{title}</h3>
      )}
      <h4>{c.members.length} members</h4>
      <ul className="member-list" data-testid="member-list">
        {c.members.map((m) => (
          <li key={m.userId} data-testid="member" data-username={m.username}>
            <Avatar name={m.displayName || m.username} seed={m.userId} url={users[m.userId]?.avatarUrl} size={32} presence={presence[m.userId]?.status ?? null} />
            <span className="user-names">
              <span>
                {m.displayName || m.username}
                {m.userId === me?.id ? ' (you)' : ''}
              </span>
              <span className="muted">@{m.username}</span>
            </span>
            {m.role === 'admin' && <span className="role-badge">admin</span>}
            {isAdmin && m.userId !== me?.id && (
              <button
                type="button"
                className="small"
                disabled={busy}
                onClick={() => act(() => ctl.removeMember(id, m.userId))}
                aria-label={`Remove ${m.displayName || m.username}`}
                data-testid="remove-member"
              >
                Remove
              </button>
            )}
          </li>
        ))}
      </ul>
      {isAdmin && (
        <UserSearch
          label="Add people"
          exclude={c.members.map((m) => m.userId)}
          renderAction={(u) => (
            <button type="button" disabled={busy} onClick={() => act(() => ctl.addMembers(id, [u.id]))} data-testid="add-to-group">
              Add
            </button>
          )}
        />
      )}
      {error && <p className="form-error" role="alert">{error}</p>}
      <div className="dialog-actions">
        {confirmLeave ? (
          <>
            <span>Leave this group?</span>
            <button type="button" onClick={() => setConfirmLeave(false)}>
              Cancel
            </button>
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() =>
                act(async () => {
                  await ctl.leave(id);
                  onClose();
                  window.location.hash = '#/';
                })
              }
              data-testid="confirm-leave"
            >
              Leave
            </button>
          </>
        ) : (
          <button type="button" className="danger" onClick={() => setConfirmLeave(true)} data-testid="leave-group">
            Leave group
          </button>
        )}
      </div>
    </Modal>
  );
}
