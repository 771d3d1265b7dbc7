import { memo, useState } from 'react';
import type { Message } from '../sdk/types';
import { displayName, isPending, messageTick, receiptSummary, type ListMessage } from '../store/selectors';
import type { ChatState, ConversationState } from '../store/state';
import { dayKey, dayLabel, GROUP_WINDOW_MS, timeOf } from './format';
import { MessageText } from './linkify';
import { Ticks } from './Ticks';

export const QUICK_EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🙏', '🎉', '🔥'];

export interface RowActions {
  reply(m: Message): void;
  edit(m: Message): void;
  remove(m: Message): void;
  forward(m: Message): void;
  react(m: Message, emoji: string): void;
  report(m: Message): void;
  retry(id: string): void;
  discard(id: string): void;
  jumpTo(messageId: string): void;
}

/** Everything a row needs besides its own message; passed as Virtuoso context. */
export interface RowContext {
  cs: ConversationState;
  state: Pick<ChatState, 'users'>;
  meId: string;
  /** Username → userId of the members, to highlight @mentions. */
  mentionMap: Record<string, string>;
  highlightId: string | null;
  /** Messages this user reported (messageId → report id). */
  reported: Record<string, string>;
  actions: RowActions;
}

/** One entry of the virtualized list. Separators are rows of their own, so prepending never resizes a loaded row. */
export type Row =
  | { kind: 'day'; key: string; at: string }
  | { kind: 'unread'; key: 'unread' }
  | { kind: 'message'; key: string; m: ListMessage; grouped: boolean };

// Per-message derived values, cached by object identity: messages are immutable, so a
// long history is not re-parsed on every change (buildRows runs over all loaded messages).
const timeCache = new WeakMap<object, { day: string; ms: number }>();
const rowCache = new WeakMap<object, { plain?: Row; grouped?: Row }>();

function timeMeta(m: ListMessage): { day: string; ms: number } {
  let t = timeCache.get(m);
  if (!t) {
    t = { day: dayKey(m.createdAt), ms: new Date(m.createdAt).getTime() };
    timeCache.set(m, t);
  }
  return t;
}

function messageRow(m: ListMessage, grouped: boolean): Row {
  let c = rowCache.get(m);
  if (!c) {
    c = {};
    rowCache.set(m, c);
  }
  const slot = grouped ? 'grouped' : 'plain';
  return (c[slot] ??= { kind: 'message', key: m.id, m, grouped });
}

/** Interleaves day separators and the "New messages" divider with the messages. */
export function buildRows(items: readonly ListMessage[], unreadDividerId: string | null): Row[] {
  const rows: Row[] = [];
  let prev: ListMessage | undefined;
  let prevMs = 0;
  let prevDay = '';
  for (const m of items) {
    const { day, ms } = timeMeta(m);
    let separated = false;
    if (day !== prevDay) {
      rows.push({ kind: 'day', key: `day-${day}`, at: m.createdAt });
      prevDay = day;
      separated = true;
    }
    if (m.id === unreadDividerId) {
      rows.push({ kind: 'unread', key: 'unread' });
      separated = true;
    }
    const grouped = !separated && prev !== undefined && prev.senderId === m.senderId && ms - prevMs < GROUP_WINDOW_MS;
    rows.push(messageRow(m, grouped));
    prev = m;
    prevMs = ms;
  }
  return rows;
}

export function RowView({ row, ctx }: { row: Row; ctx: RowContext }) {
  if (row.kind === 'day') {
    return (
      <div className="row separator-row">
        <div className="date-separator" role="separator" data-testid="date-separator">
          <span>{dayLabel(row.at)}</span>
        </div>
      </div>
    );
  }
  if (row.kind === 'unread') {
    return (
      <div className="row separator-row">
        <div className="unread-divider" role="separator" data-testid="new-messages-divider">
          <span>New messages</span>
        </div>
      </div>
    );
  }
  return <MessageRow item={row.m} grouped={row.grouped} ctx={ctx} />;
}

export function MessageRow({ item, grouped, ctx }: { item: ListMessage; grouped: boolean; ctx: RowContext }) {
  const own = item.senderId === ctx.meId;
  return (
    <div className={`row${grouped ? ' grouped' : ''}`}>
      <Bubble
        m={item}
        own={own}
        grouped={grouped}
        cs={ctx.cs}
        state={ctx.state}
        meId={ctx.meId}
        mentionMap={ctx.mentionMap}
        highlighted={ctx.highlightId === item.id}
        reported={Boolean(ctx.reported[item.id])}
        actions={ctx.actions}
      />
    </div>
  );
}

const Bubble = memo(function Bubble({
  m,
  own,
  grouped,
  cs,
  state,
  meId,
  mentionMap,
  highlighted,
  reported,
  actions,
}: {
  m: ListMessage;
  own: boolean;
  grouped: boolean;
  cs: ConversationState;
  state: Pick<ChatState, 'users'>;
  meId: string;
  mentionMap: Record<string, string>;
  highlighted: boolean;
  reported: boolean;
  actions: RowActions;
}) {
  const [picker, setPicker] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [details, setDetails] = useState(false);
  const pending = isPending(m);
  const deleted = !pending && m.deleted;
  const isGroup = cs.conversation.type === 'group';
  const sender = displayName(state, m.senderId);
  const tick = own ? messageTick(cs, m) : null;
  const summary = own && !pending && isGroup ? receiptSummary(cs, m.seq, m.senderId) : null;
  const summaryText = summary ? `Read by ${summary.readBy.length} of ${summary.total}` : undefined;
  const confirmed = pending ? null : (m as Message);

  return (
    <div
      className={`message${own ? ' own' : ''}${pending ? ' pending' : ''}${highlighted ? ' highlighted' : ''}`}
      data-testid="message"
      data-message-id={m.id}
      data-seq={pending ? '' : m.seq}
      data-own={own ? 'true' : 'false'}
    >
      {!grouped && (
        <div className="message-head">
          {!own && isGroup && <span className="sender">{sender}</span>}
          <time dateTime={m.createdAt}>{timeOf(m.createdAt)}</time>
        </div>
      )}
      <div
        className={`bubble${deleted ? ' deleted' : ''}`}
        tabIndex={0}
        aria-label={`${own ? 'You' : sender}, ${timeOf(m.createdAt)}`}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            setPicker(false);
            setConfirmDelete(false);
          }
        }}
      >
        {m.forwardedFrom && !deleted && <div className="forwarded">↪ Forwarded</div>}
        {m.replyTo && !deleted && (
          <button type="button" className="quote" onClick={() => actions.jumpTo(m.replyTo!.id)} data-testid="reply-quote">
            <span className="quote-sender">{displayName(state, m.replyTo.senderId)}</span>
            <span className="quote-text">{m.replyTo.preview}</span>
          </button>
        )}
        <div className="text" data-testid="message-text">
          {deleted ? <em className="muted">This message was deleted</em> : <MessageText text={m.body} mentions={mentionMap} meId={meId} />}
        </div>
        <div className="meta">
          {reported && (
            <span className="reported-label" data-testid="reported-label">
              reported
            </span>
          )}
          {!pending && m.editedAt && !deleted && (
            <span className="edited" data-testid="edited-label">
              edited
            </span>
          )}
          {grouped && <time dateTime={m.createdAt}>{timeOf(m.createdAt)}</time>}
          {tick &&
            (summary ? (
              <button type="button" className="ticks-button" onClick={() => setDetails(!details)} aria-expanded={details} aria-label={summaryText}>
                <Ticks tick={tick} title={summaryText} />
              </button>
            ) : (
              <Ticks tick={tick} />
            ))}
        </div>
        {details && summary && (
          <div className="receipt-details" data-testid="receipt-details">
            <div>{summaryText}</div>
            {summary.readBy.length > 0 && <div>Read: {summary.readBy.map((u) => displayName(state, u)).join(', ')}</div>}
            {summary.deliveredTo.length > summary.readBy.length && (
              <div>
                Delivered:{' '}
                {summary.deliveredTo
                  .filter((u) => !summary.readBy.includes(u))
                  .map((u) => displayName(state, u))
                  .join(', ')}
              </div>
            )}
          </div>
        )}
        {confirmed && confirmed.reactions.length > 0 && !deleted && (
          <div className="reactions" aria-label="Reactions">
            {confirmed.reactions.map((r) => {
              const mine = r.userIds.includes(meId);
              const who = r.userIds.map((u) => (u === meId ? 'You' : displayName(state, u))).join(', ');
              return (
                <button
                  key={r.emoji}
                  type="button"
                  className={`reaction-chip${mine ? ' mine' : ''}`}
                  aria-pressed={mine}
                  title={who}
                  aria-label={`${r.emoji} ${r.userIds.length}: ${who}`}
                  onClick={() => actions.react(confirmed, r.emoji)}
                  data-testid="reaction-chip"
                  data-emoji={r.emoji}
                  data-count={r.userIds.length}
                >
                  {r.emoji} <span>{r.userIds.length}</span>
                </button>
              );
            })}
          </div>
        )}
        {pending && m.pendingStatus === 'failed' && (
          <div className="send-failed" role="alert">
            Not sent{m.error?.message ? `: ${m.error.message}` : ''}.{' '}
            <button type="button" className="link-button" onClick={() => actions.retry(m.id)} data-testid="retry-send">
              Retry
            </button>{' '}
            <button type="button" className="link-button" onClick={() => actions.discard(m.id)} data-testid="discard-send">
              Discard
            </button>
          </div>
        )}
        {confirmed && !deleted && (
          <div className="actions" role="toolbar" aria-label="Message actions">
            <button type="button" onClick={() => setPicker(!picker)} aria-label="React" aria-expanded={picker} data-testid="action-react">
              ☺
            </button>
            <button type="button" onClick={() => actions.reply(confirmed)} aria-label="Reply" data-testid="action-reply">
              ↩
            </button>
            <button type="button" onClick={() => actions.forward(confirmed)} aria-label="Forward" data-testid="action-forward">
              ↪
            </button>
            {!own && !reported && (
              <button type="button" onClick={() => actions.report(confirmed)} aria-label="Report" data-testid="action-report">
                ⚑
              </button>
            )}
            {own && (
              <button type="button" onClick={() => actions.edit(confirmed)} aria-label="Edit" data-testid="action-edit">
                ✎
              </button>
            )}
            {own &&
              (confirmDelete ? (
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    setConfirmDelete(false);
                    actions.remove(confirmed);
                  }}
                  data-testid="confirm-delete"
                  autoFocus
                >
                  Delete?
                </button>
              ) : (
                <button type="button" onClick={() => setConfirmDelete(true)} aria-label="Delete" data-testid="action-delete">
                  🗑
                </button>
              ))}
          </div>
        )}
        {picker && confirmed && (
          <div className="emoji-picker" role="group" aria-label="Pick a reaction" data-testid="emoji-picker">
            {QUICK_EMOJI.map((e) => (
              <button
                key={e}
                type="button"
                onClick={() => {
                  setPicker(false);
                  actions.react(confirmed, e);
                }}
                aria-label={`React with ${e}`}
                data-emoji={e}
              >
                {e}
              </button>
            ))}
          </div>
        )}
      </div>
    </div>
  );
});
