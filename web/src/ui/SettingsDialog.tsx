import { useState, type FormEvent } from 'react';
import type { PresencePrivacy, PresenceSetStatus } from '../sdk/types';
import { readPresence } from '../store/controller';
import { errorText } from './AuthScreen';
import { useChat, useController } from './hooks';
import { Modal } from './Modal';

/** Profile (display name, avatar), privacy settings, presence status and sign-out. */
export function SettingsDialog({ onClose }: { onClose: () => void }) {
  const ctl = useController();
  const me = useChat((s) => s.me);
  const blocked = useChat((s) => s.blocked);
  const blockedList = Object.values(blocked);
  const [displayName, setDisplayName] = useState(me?.displayName ?? '');
  const [avatarUrl, setAvatarUrl] = useState(me?.avatarUrl ?? '');
  const [readReceipts, setReadReceipts] = useState(me?.readReceipts ?? true);
  const [privacy, setPrivacy] = useState<PresencePrivacy>(me?.presencePrivacy ?? 'contacts');
  const [status, setStatus] = useState<PresenceSetStatus>(readPresence() ?? 'online');
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    const url = avatarUrl.trim();
    if (url && !/^https?:\/\//i.test(url)) {
      setError('The avatar must be an http(s) URL.');
      setBusy(false);
      return;
    }
    try {
      await ctl.updateProfile({
        displayName: displayName.trim() || undefined,
        // "" clears a stored avatar; null leaves it unchanged.
        avatarUrl: url || (me?.avatarUrl ? '' : null),
        readReceipts,
        presencePrivacy: privacy,
      });
      ctl.setPresence(status);
      setSaved(true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="Profile and settings" onClose={onClose} testId="settings-dialog">
      <form onSubmit={save} className="settings-form">
        <p className="muted">Signed in as @{me?.username}</p>
        <label>
          Display name
          <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} maxLength={80} data-testid="profile-displayname" />
        </label>
        <label>
          Avatar URL
          <input
            type="url"
            value={avatarUrl}
            onChange={(e) => setAvatarUrl(e.target.value)}
            placeholder="https://…"
            data-testid="profile-avatar"
          />
        </label>
        <fieldset>
          <legend>Privacy</legend>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={readReceipts}
              onChange={(e) => setReadReceipts(e.target.checked)}
              data-testid="setting-read-receipts"
            />
            Send read receipts
          </label>
          <label>
            Who can see when I am online
            <select value={privacy} onChange={(e) => setPrivacy(e.target.value as PresencePrivacy)} data-testid="setting-presence-privacy">
              <option value="everyone">Everyone</option>
              <option value="contacts">My contacts</option>
              <option value="nobody">Nobody</option>
            </select>
          </label>
          <label>
            My status
            <select value={status} onChange={(e) => setStatus(e.target.value as PresenceSetStatus)} data-testid="setting-status">
              <option value="online">Online</option>
              <option value="away">Away</option>
              <option value="busy">Busy</option>
              <option value="invisible">Invisible</option>
            </select>
          </label>
        </fieldset>
        <fieldset data-testid="blocked-list">
          <legend>Blocked people</legend>
          {blockedList.length === 0 ? (
            <p className="muted">Nobody.</p>
          ) : (
            <ul className="member-list">
              {blockedList.map((u) => (
                <li key={u.id} data-testid="blocked-user" data-username={u.username}>
                  <span className="user-names">
                    <span>{u.displayName || u.username}</span>
                    <span className="muted">@{u.username}</span>
                  </span>
                  <button
                    type="button"
                    className="small"
                    onClick={() => ctl.unblockUser(u.id).catch((err: unknown) => setError(errorText(err)))}
                    data-testid="settings-unblock"
                  >
                    Unblock
                  </button>
                </li>
              ))}
            </ul>
          )}
        </fieldset>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        {saved && (
          <p className="form-ok" role="status">
            Saved.
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="danger" onClick={() => void ctl.logout()} data-testid="logout">
            Sign out
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="save-profile">
            Save
          </button>
        </div>
      </form>
    </Modal>
  );
}
