import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Virtuoso, type ListRange, type VirtuosoHandle } from 'react-virtuoso';
import { findSeq } from '../store/seq';
import { isPending, listMessages } from '../store/selectors';
import type { ChatState, ConversationState } from '../store/state';
import { useController } from './hooks';
import { buildRows, RowView, type Row, type RowActions, type RowContext } from './MessageRow';

/** Far above any realistic history length; decreases as older pages are prepended. */
const START_INDEX = 100_000_000;
const READ_DEBOUNCE_MS = 400;
const NONE_REPORTED: Record<string, string> = {};

/** The first message from someone else above the read watermark (where "New messages" goes). */
export function unreadDividerId(cs: ConversationState, meId: string, readMarkerSeq: number | null): string | null {
  if (readMarkerSeq === null) return null;
  const from = findSeq(cs.messages, readMarkerSeq + 1);
  for (let i = from >= 0 ? from : -from - 1; i < cs.messages.length; i++) {
    const m = cs.messages[i]!;
    if (m.senderId !== meId && !m.deleted) return m.id;
  }
  return null;
}

export function MessageList({
  cs,
  state,
  meId,
  readMarkerSeq,
  actions,
  mentionMap,
  reported = NONE_REPORTED,
}: {
  cs: ConversationState;
  state: Pick<ChatState, 'users'>;
  meId: string;
  readMarkerSeq: number | null;
  actions: Omit<RowActions, 'jumpTo'>;
  mentionMap: Record<string, string>;
  /** Messages this user reported (messageId → report id). */
  reported?: Record<string, string>;
}) {
  const ctl = useController();
  const id = cs.conversation.id;
  const ref = useRef<VirtuosoHandle>(null);
  const items = useMemo(() => listMessages(cs), [cs]);
  const [atBottom, setAtBottom] = useState(true);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const [dividerId] = useState(() => unreadDividerId(cs, meId, readMarkerSeq));

  const rows = useMemo(() => buildRows(items, dividerId), [items, dividerId]);

  // firstItemIndex: when history is prepended, the row that used to hold the oldest
  // message moves down by k rows; firstItemIndex moves down by the same k, so every
  // row already shown keeps its absolute index and the viewport does not jump.
  const first = useRef<{ index: number; anchorKey: string | null; anchorRow: number }>({ index: START_INDEX, anchorKey: null, anchorRow: 0 });
  const oldestKey = cs.messages[0]?.id ?? null;
  if (first.current.anchorKey !== oldestKey) {
    const prev = first.current;
    let index = prev.index;
    if (prev.anchorKey !== null) {
      const at = rows.findIndex((r) => r.key === prev.anchorKey);
      if (at >= 0) index = prev.index - (at - prev.anchorRow);
    }
    const anchorRow = oldestKey === null ? 0 : rows.findIndex((r) => r.key === oldestKey);
    first.current = { index, anchorKey: oldestKey, anchorRow: Math.max(anchorRow, 0) };
  }
  const firstItemIndex = first.current.index;

  const [initialIndex] = useState(() => {
    const i = dividerId ? rows.findIndex((r) => r.kind === 'unread') : -1;
    return i >= 0 ? { index: i, align: 'start' as const } : Math.max(rows.length - 1, 0);
  });

  // Mark the latest visible message read (debounced, only while the page is visible).
  const lastRange = useRef<ListRange | null>(null);
  const readTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const firstRef = useRef(firstItemIndex);
  firstRef.current = firstItemIndex;
  const markVisibleRead = useCallback(() => {
    const range = lastRange.current;
    if (!range || document.visibilityState === 'hidden') return;
    const list = rowsRef.current;
    let end = range.endIndex - firstRef.current;
    if (end < 0 || end >= list.length) end = Math.min(range.endIndex, list.length - 1);
    for (let i = end; i >= 0; i--) {
      const r = list[i]!;
      if (r.kind === 'message' && !isPending(r.m)) {
        ctl.markRead(id, r.m.seq);
        return;
      }
    }
  }, [ctl, id]);
  const scheduleRead = useCallback(() => {
    if (readTimer.current) clearTimeout(readTimer.current);
    readTimer.current = setTimeout(markVisibleRead, READ_DEBOUNCE_MS);
  }, [markVisibleRead]);
  useEffect(() => {
    const onVisible = () => document.visibilityState === 'visible' && scheduleRead();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', onVisible);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
      if (readTimer.current) clearTimeout(readTimer.current);
    };
  }, [scheduleRead]);
  // New messages while the bottom is visible count as seen.
  const lastSeq = cs.messages[cs.messages.length - 1]?.seq ?? 0;
  useEffect(() => {
    if (atBottom) scheduleRead();
  }, [lastSeq, atBottom, scheduleRead]);

  // Own sends always bring the list to the bottom.
  const pendingCount = cs.pending.length;
  const prevPending = useRef(pendingCount);
  useEffect(() => {
    if (pendingCount > prevPending.current) ref.current?.scrollToIndex({ index: 'LAST', align: 'end', behavior: 'auto' });
    prevPending.current = pendingCount;
  }, [pendingCount]);

  const jumpTo = useCallback((messageId: string) => {
    const i = rowsRef.current.findIndex((r) => r.key === messageId);
    if (i < 0) return;
    ref.current?.scrollToIndex({ index: i, align: 'center', behavior: 'smooth' });
    setHighlightId(messageId);
    setTimeout(() => setHighlightId((h) => (h === messageId ? null : h)), 1600);
  }, []);

  const context: RowContext = useMemo(
    () => ({ cs, state, meId, mentionMap, highlightId, reported, actions: { ...actions, jumpTo } }),
    [cs, state, meId, mentionMap, highlightId, reported, actions, jumpTo],
  );

  const unseenBelow = useMemo(() => {
    if (atBottom || !lastRange.current) return 0;
    let end = lastRange.current.endIndex - firstItemIndex;
    if (end < 0) end = 0;
    let n = 0;
    for (let i = end + 1; i < rows.length; i++) {
      const r = rows[i]!;
      if (r.kind === 'message' && r.m.senderId !== meId) n++;
    }
    return n;
  }, [atBottom, rows, firstItemIndex, meId]);

  return (
    <div className="message-list-wrap">
      {items.length === 0 ? (
        <div className="list-empty-conversation muted">{cs.loadingBefore ? 'Loading…' : 'No messages yet. Say hello!'}</div>
      ) : (
        <Virtuoso<Row, RowContext>
          ref={ref}
          className="message-list"
          data-testid="message-list"
          data={rows}
          context={context}
          firstItemIndex={firstItemIndex}
          initialTopMostItemIndex={initialIndex}
          computeItemKey={(_, r) => r.key}
          itemContent={(_, r, ctx) => <RowView row={r} ctx={ctx} />}
          startReached={() => void ctl.loadOlder(id)}
          followOutput={(bottom) => (bottom ? 'smooth' : false)}
          atBottomStateChange={setAtBottom}
          atBottomThreshold={80}
          rangeChanged={(r) => {
            lastRange.current = r;
            scheduleRead();
          }}
          increaseViewportBy={{ top: 600, bottom: 300 }}
          components={{ Header: ListHeader }}
        />
      )}
      {!atBottom && items.length > 0 && (
        <button
          type="button"
          className="jump-latest"
          onClick={() => ref.current?.scrollToIndex({ index: 'LAST', align: 'end', behavior: 'auto' })}
          aria-label={unseenBelow ? `Jump to latest, ${unseenBelow} new` : 'Jump to latest'}
          data-testid="jump-latest"
        >
          ↓{unseenBelow > 0 && <span className="jump-count">{unseenBelow}</span>}
        </button>
      )}
    </div>
  );
}

function ListHeader({ context }: { context?: RowContext }) {
  const cs = context?.cs;
  if (!cs) return null;
  if (cs.loadingBefore) return <div className="list-header muted" role="status">Loading earlier messages…</div>;
  if (!cs.hasMoreBefore) return <div className="list-header muted">This is the beginning of the conversation.</div>;
  return <div className="list-header" />;
}
