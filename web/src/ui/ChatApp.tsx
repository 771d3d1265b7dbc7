import { useCallback, useEffect, useState } from 'react';
import { conversationTitle, displayName } from '../store/selectors';
import { Avatar } from './Avatar';
import { ConnectionBanner } from './ConnectionBanner';
import { ConversationList } from './ConversationList';
import { ConversationView } from './ConversationView';
import { useChat, useController } from './hooks';
import { NewChatDialog } from './NewChatDialog';
import { SettingsDialog } from './SettingsDialog';

function idFromHash(): string | null {
  const m = window.location.hash.match(/^#\/c\/([\w-]+)$/);
  return m ? m[1]! : null;
}

/** Signed-in shell: conversation list + active conversation (separate screens when narrow). */
export function ChatApp() {
  const ctl = useController();
  const me = useChat((s) => s.me);
  const activeId = useChat((s) => s.activeId);
  const [dialog, setDialog] = useState<'new' | 'settings' | null>(null);
  const [announcement, setAnnouncement] = useState('');

  // The URL hash mirrors the open conversation, so Back returns to the list on phones.
  const open = useCallback(
    (id: string | null) => {
      const hash = id ? `#/c/${id}` : '#/';
      if (window.location.hash !== hash) window.location.hash = hash;
      void ctl.openConversation(id);
    },
    [ctl],
  );
  useEffect(() => {
    const sync = () => {
      const id = idFromHash();
      if (id !== ctl.state.activeId) void ctl.openConversation(id);
    };
    sync();
    window.addEventListener('hashchange', sync);
    return () => window.removeEventListener('hashchange', sync);
  }, [ctl]);
  // Conversations load after the first render: open the one named in the URL once it exists.
  const hashKnown = useChat((s) => {
    const id = idFromHash();
    return id ? Boolean(s.conversations[id]) : false;
  });
  useEffect(() => {
    const id = idFromHash();
    if (hashKnown && id && ctl.state.conversations[id] && !ctl.state.conversations[id]!.historyLoaded) void ctl.openConversation(id);
  }, [hashKnown, ctl]);

  useEffect(
    () =>
      ctl.onIncoming((m) => {
        const s = ctl.state;
        const cs = s.conversations[m.conversationId];
        if (!cs) return;
        const where = cs.conversation.type === 'group' ? ` in ${conversationTitle(cs.conversation, s.me?.id, s.users)}` : '';
        setAnnouncement(`New message from ${displayName(s, m.senderId)}${where}: ${m.body.slice(0, 140)}`);
      }),
    [ctl],
  );

  return (
    <div className="app" data-view={activeId ? 'conversation' : 'list'} data-testid="chat-app">
      <aside className="sidebar" aria-label="Conversations">
        <header className="sidebar-header">
          <button
            type="button"
            className="me-button"
            onClick={() => setDialog('settings')}
            aria-label="Profile and settings"
            data-testid="open-settings"
          >
            <Avatar name={me?.displayName || me?.username || '?'} seed={me?.id ?? ''} url={me?.avatarUrl} size={36} />
            <span className="me-name" data-testid="me-name">
              {me?.displayName || me?.username}
            </span>
          </button>
          <button type="button" className="primary small" onClick={() => setDialog('new')} data-testid="new-chat">
            New chat
          </button>
        </header>
        <ConnectionBanner />
        <ConversationList activeId={activeId} onOpen={open} />
      </aside>
      <main className="main">
        {activeId ? (
          <ConversationView key={activeId} id={activeId} onBack={() => open(null)} />
        ) : (
          <div className="empty-main">
            <p>Select a conversation or start a new one.</p>
          </div>
        )}
      </main>
      {dialog === 'new' && (
        <NewChatDialog
          onClose={() => setDialog(null)}
          onCreated={(id) => {
            setDialog(null);
            open(id);
          }}
        />
      )}
      {dialog === 'settings' && <SettingsDialog onClose={() => setDialog(null)} />}
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer">
        {announcement}
      </div>
    </div>
  );
}
