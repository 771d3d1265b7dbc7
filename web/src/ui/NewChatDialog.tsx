import { useState } from 'react';
import type { User } from '../sdk/types';
import { errorText } from './AuthScreen';
import { useController } from './hooks';
import { Modal } from './Modal';
import { UserSearch } from './UserSearch';

/** Start a direct chat, or create a group with a name and members. */
export function NewChatDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (id: string) => void }) {
  const ctl = useController();
  const [mode, setMode] = useState<'direct' | 'group'>('direct');
  const [name, setName] = useState('');
  const [members, setMembers] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (f: () => Promise<{ id: string }>) => {
    setBusy(true);
    setError(null);
    try {
      const c = await f();
      onCreated(c.id);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <Modal title="New chat" onClose={onClose} testId="new-chat-dialog">
      <div className="tabs" role="tablist" aria-label="Chat type">
        <button type="button" role="tab" aria-selected={mode === 'direct'} onClick={() => setMode('direct')} data-testid="tab-direct">
          Person
        </button>
        <button type="button" role="tab" aria-selected={mode === 'group'} onClick={() => setMode('group')} data-testid="tab-group">
          Group
        </button>
      </div>
      {mode === 'group' && (
        <>
          <label>
            Group name
            <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} data-testid="group-name" />
          </label>
          {members.length > 0 && (
            <ul className="chips" aria-label="Selected members">
              {members.map((m) => (
                <li key={m.id} className="chip">
                  {m.displayName || m.username}
                  <button
                    type="button"
                    className="chip-remove"
                    aria-label={`Remove ${m.displayName || m.username}`}
                    onClick={() => setMembers(members.filter((x) => x.id !== m.id))}
                  >
                    ✕
                  </button>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      <UserSearch
        label={mode === 'direct' ? 'Find people' : 'Add members'}
        exclude={mode === 'group' ? members.map((m) => m.id) : []}
        renderAction={(u) =>
          mode === 'direct' ? (
            <button type="button" disabled={busy} onClick={() => run(() => ctl.createDirect(u.id))} data-testid="start-direct">
              Chat
            </button>
          ) : (
            <button type="button" onClick={() => setMembers([...members, u])} data-testid="add-member">
              Add
            </button>
          )
        }
      />
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {mode === 'group' && (
        <div className="dialog-actions">
          <button
            type="button"
            className="primary"
            disabled={busy || !name.trim() || members.length === 0}
            onClick={() => run(() => ctl.createGroup(name, members.map((m) => m.id)))}
            data-testid="create-group"
          >
            Create group
          </button>
        </div>
      )}
    </Modal>
  );
}
