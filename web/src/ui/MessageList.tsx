import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Virtuoso, type ListRange, type VirtuosoHandle } from 'react-virtuoso';
import { findSeq } from '../store/seq';
import { isPending, listMessages, type ListMessage } from '../store/selectors';
import type { ChatState, ConversationState } from '../store/state';
import { useController } from './hooks';
import { MessageRow, type RowActions, type RowContext } from './MessageRow';

/** Far above any realistic history length; decreases as older pages are prepended. */
const START_INDEX = 100_000_000;
const READ_DEBOUNCE_MS = 400;

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
}: {
  cs: ConversationState;
  state: Pick<ChatState, 'users'>;
  meId: string;
  readMarkerSeq: number | null;
  actions: Omit<RowActions, 'jumpTo'>;
  mentionMap: Record<string, string>;
}) {
  const ctl = useController();
  const id = cs.conversation.id;
  const ref = useRef<VirtuosoHandle>(null);
  const items = useMemo(() => listMessages(cs), [cs]);
  const [atBottom, setAtBottom] = useState(true);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const [dividerId] = useState(() => unreadDividerId(cs, meId, readMarkerSeq));

  // firstItemIndex: moved down by exactly the number of messages prepended before the previous oldest.
  const first = useRef({ index: START_INDEX, oldestSeq: cs.messages[0]?.seq ?? null });
  const oldest = cs.messages[0]?.seq ?? null;
  if (oldest !== null && first.current.oldestSeq !== null && oldest < first.current.oldestSeq) {
    const at = findSeq(cs.messages, first.current.oldestSeq);
    first.current = { index: first.current.index - (at >= 0 ? at : -at - 1), oldestSeq: oldest };
  } else if (first.current.oldestSeq === null && oldest !== null) {
    first.current = { index: first.current.index, oldestSeq: oldest };
  }
  const firstItemIndex = first.current.index;

  const [initialIndex] = useState(() => {
    const i = dividerId ? items.findIndex((m) => m.id === dividerId) : -1;
    return i >= 0 ? { index: i, align: 'start' as const } : Math.max(items.length - 1, 0);
  });

  // Mark the latest visible message read (debounced, only while the page is visible).
  const lastRange = useRef<ListRange | null>(null);
  const readTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const firstRef = useRef(firstItemIndex);
  firstRef.current = firstItemIndex;
  const markVisibleRead = useCallback(() => {
    const range = lastRange.current;
    if (!range || document.visibilityState === 'hidden') return;
    const list = itemsRef.current;
    let end = range.endIndex - firstRef.current;
    if (end < 0 || end >= list.length) end = Math.min(range.endIndex, list.length - 1);
    for (let i = end; i >= 0; i--) {
      const m = list[i]!;
      if (!isPending(m)) {
        ctl.markRead(id, m.seq);
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
    const i = itemsRef.current.findIndex((m) => m.id === messageId);
    if (i < 0) return;
    ref.current?.scrollToIndex({ index: i, align: 'center', behavior: 'smooth' });
    setHighlightId(messageId);
    setTimeout(() => setHighlightId((h) => (h === messageId ? null : h)), 1600);
  }, []);

  const context: RowContext = useMemo(
    () => ({ items, cs, state, meId, mentionMap, unreadDividerId: dividerId, highlightId, actions: { ...actions, jumpTo } }),
    [items, cs, state, meId, mentionMap, dividerId, highlightId, actions, jumpTo],
  );

  const unseenBelow = useMemo(() => {
    if (atBottom || !lastRange.current) return 0;
    let end = lastRange.current.endIndex - firstItemIndex;
    if (end < 0) end = 0;
    let n = 0;
    for (let i = end + 1; i < items.length; i++) if (items[i]!.senderId !== meId) n++;
    return n;
  }, [atBottom, items, firstItemIndex, meId]);

  return (
    <div className="message-list-wrap">
      {items.length === 0 ? (
        <div className="list-empty-conversation muted">{cs.loadingBefore ? 'Loading…' : 'No messages yet. Say hello!'}</div>
      ) : (
        <Virtuoso<ListMessage, RowContext>
          ref={ref}
          className="message-list"
          data-testid="message-list"
          data={items}
          context={context}
          firstItemIndex={firstItemIndex}
          initialTopMostItemIndex={initialIndex}
          computeItemKey={(_, m) => m.id}
          itemContent={(index, m, ctx) => {
            const rel = index - firstItemIndex;
            return <MessageRow item={m} prev={rel > 0 ? ctx.items[rel - 1] : undefined} ctx={ctx} />;
          }}
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
