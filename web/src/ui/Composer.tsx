import { useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { Member, Message } from '../sdk/types';

export interface ComposerProps {
  conversationId: string;
  members: Member[];
  meId: string;
  replyTo: Message | null;
  replyToName: string;
  editing: Message | null;
  onSend(body: string, mentions: string[]): void;
  onSaveEdit(message: Message, body: string): void;
  onCancel(): void;
  onTyping(): void;
  onStopTyping(): void;
  /** Up arrow in an empty composer edits the last own message. */
  onEditLast?(): void;
}

const MAX_ROWS = 8;

/** The @query being typed right before the caret, if any. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const m = before.match(/(^|\s)@([\w.-]{0,32})$/);
  if (!m) return null;
  return { start: before.length - m[2]!.length - 1, query: m[2]! };
}

/** userIds of members whose @username appears in the text. */
export function mentionedIds(text: string, members: Member[], meId: string): string[] {
  const out: string[] = [];
  for (const m of members) {
    if (m.userId === meId) continue;
    const re = new RegExp(`(^|[^\\w@])@${m.username.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w])`);
    if (re.test(text)) out.push(m.userId);
  }
  return out;
}

export function Composer(p: ComposerProps) {
  const [text, setText] = useState('');
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const ref = useRef<HTMLTextAreaElement>(null);
  const listId = useId();

  // Entering edit mode loads the message text; leaving it clears the box.
  useEffect(() => {
    if (p.editing) {
      setText(p.editing.body);
      requestAnimationFrame(() => {
        const el = ref.current;
        if (!el) return;
        el.focus();
        el.setSelectionRange(el.value.length, el.value.length);
      });
    }
  }, [p.editing]);
  useEffect(() => {
    if (p.replyTo) ref.current?.focus();
  }, [p.replyTo]);

  const mq = mentionQuery(text, caret);
  const suggestions = useMemo(() => {
    if (!mq || mq.start === dismissed) return [];
    const q = mq.query.toLowerCase();
    const found = p.members
      .filter((m) => m.userId !== p.meId)
      .filter((m) => m.username.toLowerCase().startsWith(q) || m.displayName.toLowerCase().includes(q))
      .slice(0, 6);
    // A fully typed username needs no suggestion (Enter then sends).
    if (found.length === 1 && found[0]!.username.toLowerCase() === q) return [];
    return found;
  }, [mq?.query, mq?.start, dismissed, p.members, p.meId]); // eslint-disable-line react-hooks/exhaustive-deps

  const pick = (m: Member) => {
    if (!mq) return;
    const insert = `@${m.username} `;
    const next = text.slice(0, mq.start) + insert + text.slice(caret);
    const pos = mq.start + insert.length;
    setText(next);
    setCaret(pos);
    requestAnimationFrame(() => {
      ref.current?.focus();
      ref.current?.setSelectionRange(pos, pos);
    });
  };

  const submit = () => {
    const body = text.trim();
    if (!body) return;
    if (p.editing) {
      if (body !== p.editing.body) p.onSaveEdit(p.editing, body);
      else p.onCancel();
    } else {
      p.onSend(body, mentionedIds(body, p.members, p.meId));
    }
    setText('');
    setCaret(0);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (suggestions.length > 0) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : suggestions.length - 1)) % suggestions.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        pick(suggestions[Math.min(active, suggestions.length - 1)]!);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setDismissed(mq?.start ?? null);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
      return;
    }
    if (e.key === 'Escape' && (p.editing || p.replyTo)) {
      e.preventDefault();
      if (p.editing) setText('');
      p.onCancel();
      return;
    }
    if (e.key === 'ArrowUp' && text === '' && !p.editing) {
      p.onEditLast?.();
    }
  };

  const rows = Math.min(MAX_ROWS, Math.max(1, text.split('\n').length));
  return (
    <div className="composer" data-testid="composer">
      {(p.replyTo || p.editing) && (
        <div className="composer-context" data-testid={p.editing ? 'edit-banner' : 'reply-preview'}>
          <div className="composer-context-text">
            <strong>{p.editing ? 'Edit message' : `Replying to ${p.replyToName}`}</strong>
            <span className="muted">{(p.editing ?? p.replyTo)!.body.slice(0, 140)}</span>
          </div>
          <button
            type="button"
            className="icon-button"
            aria-label={p.editing ? 'Cancel editing' : 'Cancel reply'}
            onClick={() => {
              if (p.editing) setText('');
              p.onCancel();
            }}
          >
            ✕
          </button>
        </div>
      )}
      {suggestions.length > 0 && (
        <ul className="mention-list" role="listbox" id={listId} aria-label="Mention someone" data-testid="mention-list">
          {suggestions.map((m, i) => (
            <li
              key={m.userId}
              role="option"
              aria-selected={i === active}
              className={i === active ? 'active' : ''}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(m);
              }}
              data-testid="mention-option"
            >
              {m.displayName} <span className="muted">@{m.username}</span>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <textarea
          ref={ref}
          className="composer-input"
          data-testid="composer-input"
          aria-label={p.editing ? 'Edit message' : 'Message'}
          placeholder="Write a message…"
          rows={rows}
          value={text}
          maxLength={100_000}
          role="combobox"
          aria-expanded={suggestions.length > 0}
          aria-controls={suggestions.length > 0 ? listId : undefined}
          aria-autocomplete="list"
          onChange={(e) => {
            setText(e.target.value);
            setCaret(e.target.selectionStart ?? e.target.value.length);
            setActive(0);
            if (e.target.value.trim()) p.onTyping();
            else p.onStopTyping();
          }}
          onSelect={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
          onKeyDown={onKeyDown}
          onBlur={() => p.onStopTyping()}
        />
        <button
          type="button"
          className="primary send-button"
          onClick={submit}
          disabled={!text.trim()}
          aria-label={p.editing ? 'Save edit' : 'Send'}
          data-testid="send-button"
        >
          {p.editing ? 'Save' : 'Send'}
        </button>
      </div>
    </div>
  );
}
