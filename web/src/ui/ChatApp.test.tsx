import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { MemorySessionStore, RestClient } from '../sdk/rest';
import { ChatController } from '../store/controller';
import { chatReducer } from '../store/reducer';
import { flush, socketFactory } from '../test/fakeSocket';
import { BOB, conversation, group, ME, msg, stateWith } from '../test/fixtures';
import { ChatApp } from './ChatApp';
import { ControllerContext } from './hooks';
import { buildRows, MessageRow, RowView, type RowContext } from './MessageRow';
import { listMessages } from '../store/selectors';

async function mountApp() {
  const f = socketFactory();
  const fetch = vi.fn(async (url: string) => {
    const path = url.split('?')[0];
    const body =
      path === '/api/v1/conversations'
        ? {
            conversations: [
              conversation({ lastSeq: 3, unreadCount: 2, lastMessage: { seq: 3, senderId: BOB, preview: 'see you', createdAt: new Date().toISOString() } }),
              group({ lastSeq: 0 }),
            ],
          }
        : path.endsWith('/messages')
          ? { messages: [], nextCursor: null, hasMore: false }
          : path.endsWith('/receipts')
            ? { receipts: [] }
            : ME;
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  });
  const api = new RestClient({ fetch, store: new MemorySessionStore({ user: ME, accessToken: 'A', refreshToken: 'R', expiresAt: Date.now() + 3.6e6 }) });
  const ctl = new ChatController({ api, socketUrl: 'ws://t/ws', createSocket: f.create, socketOptions: { watchNetwork: false } });
  await act(async () => {
    await ctl.start();
    await flush();
  });
  render(
    <ControllerContext.Provider value={ctl}>
      <ChatApp />
    </ControllerContext.Provider>,
  );
  return { ctl, f };
}

describe('ChatApp', () => {
  it('lists conversations with preview, unread badge and live typing hint; shows the connection state', async () => {
    const { ctl, f } = await mountApp();
    expect(screen.getByTestId('connection-banner').dataset.state).toBe('connecting');
    act(() => {
      f.last.open();
      f.last.receive({ type: 'ready', userId: ME.id });
      f.last.receive({ type: 'sync:done' });
    });
    expect(screen.getByTestId('connection-banner').dataset.state).toBe('online');

    const items = screen.getAllByTestId('conversation-item');
    expect(items.map((i) => i.dataset.title)).toEqual(['Bob', 'Team']);
    expect(within(items[0]!).getByTestId('unread-badge').textContent).toBe('2');
    expect(within(items[0]!).getByTestId('conversation-preview').textContent).toBe('see you');

    act(() => f.last.receive({ type: 'typing', conversationId: 'c1', userId: BOB, state: 'start' }));
    expect(within(screen.getAllByTestId('conversation-item')[0]!).getByTestId('typing-hint').textContent).toBe('typing…');

    act(() => f.last.receive({ type: 'message:new', message: msg(1, { conversationId: 'g1', body: 'group news', createdAt: new Date(Date.now() + 1000).toISOString() }) }));
    const after = screen.getAllByTestId('conversation-item');
    expect(after[0]!.dataset.title).toBe('Team');
    expect(within(after[0]!).getByTestId('conversation-preview').textContent).toBe('Bob: group news');
    expect(screen.getByTestId('announcer').textContent).toBe('New message from Bob in Team: group news');

    act(() => f.last.serverClose());
    expect(screen.getByTestId('connection-banner').dataset.state).toBe('reconnecting');
    expect(screen.getByTestId('connection-banner').textContent).toBe('Reconnecting…');
    ctl.stop();
  });

  it('opens a conversation on click and shows its header', async () => {
    const { ctl } = await mountApp();
    fireEvent.click(screen.getAllByTestId('conversation-item')[0]!);
    expect(screen.getByTestId('conversation-title').textContent).toBe('Bob');
    expect(screen.getByTestId('chat-app').dataset.view).toBe('conversation');
    ctl.stop();
  });
});

describe('MessageRow', () => {
  function ctxFor(s: ReturnType<typeof stateWith>, over: Partial<RowContext> = {}): RowContext {
    const cs = s.conversations.c1!;
    return {
      cs,
      state: s,
      meId: ME.id,
      mentionMap: {},
      highlightId: null,
      reported: {},
      actions: {
        reply: vi.fn(),
        edit: vi.fn(),
        remove: vi.fn(),
        forward: vi.fn(),
        react: vi.fn(),
        report: vi.fn(),
        retry: vi.fn(),
        discard: vi.fn(),
        jumpTo: vi.fn(),
      },
      ...over,
    };
  }

  it('shows own ticks, reactions with counts, edited label and actions', () => {
    let s = stateWith();
    s = chatReducer(s, {
      type: 'message/new',
      message: msg(1, { senderId: ME.id, editedAt: 'T', reactions: [{ emoji: '👍', userIds: [BOB, ME.id] }] }),
    });
    s = chatReducer(s, { type: 'receipt', conversationId: 'c1', userId: BOB, deliveredSeq: 1, readSeq: 1 });
    const ctx = ctxFor(s);
    render(<MessageRow item={listMessages(s.conversations.c1!)[0]!} grouped={false} ctx={ctx} />);
    expect(screen.getByTestId('ticks').dataset.tick).toBe('read');
    const chip = screen.getByTestId('reaction-chip');
    expect(chip.dataset.count).toBe('2');
    expect(chip.getAttribute('aria-pressed')).toBe('true');
    expect(chip.title).toBe('Bob, You');
    expect(screen.getByTestId('edited-label')).toBeTruthy();
    fireEvent.click(chip);
    expect(ctx.actions.react).toHaveBeenCalledWith(expect.objectContaining({ id: 'm1' }), '👍');
    fireEvent.click(screen.getByTestId('action-delete'));
    fireEvent.click(screen.getByTestId('confirm-delete'));
    expect(ctx.actions.remove).toHaveBeenCalled();
  });

  it('offers retry for a failed message', () => {
    let s = stateWith();
    s = chatReducer(s, {
      type: 'send/pending',
      message: { id: 'p1', conversationId: 'c1', senderId: ME.id, body: 'x', createdAt: '2026-01-01T00:00:00Z', replyTo: null, forwardedFrom: null, forwardFrom: null, mentions: [], status: 'sending', error: null, attempts: 1 },
    });
    s = chatReducer(s, { type: 'send/failed', id: 'p1', code: 'timeout', message: 'No answer' });
    const ctx = ctxFor(s);
    render(<MessageRow item={listMessages(s.conversations.c1!)[0]!} grouped={false} ctx={ctx} />);
    expect(screen.getByTestId('ticks').dataset.tick).toBe('failed');
    fireEvent.click(screen.getByTestId('retry-send'));
    expect(ctx.actions.retry).toHaveBeenCalledWith('p1');
  });

  it('builds rows: day separators, grouping of one sender, and the unread divider', () => {
    let s = stateWith();
    const day1 = (sec: number) => new Date(Date.UTC(2026, 0, 1, 10, 0, sec)).toISOString();
    const day2 = new Date(Date.UTC(2026, 0, 2, 10, 0, 0)).toISOString();
    s = chatReducer(s, { type: 'message/new', message: msg(1, { createdAt: day1(0) }) });
    s = chatReducer(s, { type: 'message/new', message: msg(2, { createdAt: day1(30) }) });
    s = chatReducer(s, { type: 'message/new', message: msg(3, { createdAt: day1(40), senderId: ME.id }) });
    s = chatReducer(s, { type: 'message/new', message: msg(4, { createdAt: day2, senderId: ME.id }) });
    const items = listMessages(s.conversations.c1!);
    const rows = buildRows(items, 'm2');
    expect(rows.map((r) => (r.kind === 'message' ? `${r.key}${r.grouped ? '+' : ''}` : r.kind))).toEqual([
      'day',
      'm1',
      'unread',
      'm2',
      'm3',
      'day',
      'm4',
    ]);
    expect(buildRows(items, null).map((r) => (r.kind === 'message' ? `${r.key}${r.grouped ? '+' : ''}` : r.kind))).toEqual([
      'day',
      'm1',
      'm2+',
      'm3',
      'day',
      'm4',
    ]);
    const ctx = ctxFor(s);
    render(<RowView row={rows[2]!} ctx={ctx} />);
    expect(screen.getByTestId('new-messages-divider')).toBeTruthy();
  });

  it('prepending history does not change the rows already built (stable scroll anchor)', () => {
    let s = stateWith(conversation({ lastSeq: 4 }));
    const t = (sec: number) => new Date(Date.UTC(2026, 0, 1, 10, 0, sec)).toISOString();
    s = chatReducer(s, { type: 'history/page', conversationId: 'c1', page: { messages: [msg(4, { createdAt: t(4) }), msg(3, { createdAt: t(3), senderId: ME.id })], nextCursor: 3, hasMore: true } });
    const before = buildRows(listMessages(s.conversations.c1!), null);
    s = chatReducer(s, { type: 'history/page', conversationId: 'c1', page: { messages: [msg(2, { createdAt: t(2), senderId: ME.id }), msg(1, { createdAt: t(1) })], nextCursor: null, hasMore: false } });
    const after = buildRows(listMessages(s.conversations.c1!), null);
    // the day separator stays first; the old rows are the tail of the new ones
    expect(after[0]!.key).toBe(before[0]!.key);
    expect(after.slice(after.length - (before.length - 1)).map((r) => r.key)).toEqual(before.slice(1).map((r) => r.key));
  });
});
