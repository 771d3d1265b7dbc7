import { useMemo } from 'react';
import type { Message } from '../sdk/types';
import { conversationTitle, sortedConversations } from '../store/selectors';
import { Avatar } from './Avatar';
import { useChat, useController } from './hooks';
import { Modal } from './Modal';

export function ForwardDialog({ message, onClose, onDone }: { message: Message; onClose: () => void; onDone: (id: string) => void }) {
  const ctl = useController();
  const conversations = useChat((s) => s.conversations);
  const users = useChat((s) => s.users);
  const me = useChat((s) => s.me);
  const sorted = useMemo(() => sortedConversations({ conversations }), [conversations]);
  return (
    <Modal title="Forward to…" onClose={onClose} testId="forward-dialog">
      <blockquote className="forward-preview">{message.body}</blockquote>
      <ul className="forward-list">
        {sorted.map((cs) => {
          const title = conversationTitle(cs.conversation, me?.id, users);
          return (
            <li key={cs.conversation.id}>
              <button
                type="button"
                className="forward-target"
                data-testid="forward-target"
                data-title={title}
                onClick={() => {
                  ctl.forward(cs.conversation.id, message);
                  onDone(cs.conversation.id);
                }}
              >
                <Avatar name={title} seed={cs.conversation.id} size={28} />
                {title}
              </button>
            </li>
          );
        })}
      </ul>
    </Modal>
  );
}
