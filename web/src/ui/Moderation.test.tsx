import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError, MemorySessionStore, RestClient } from '../sdk/rest';
import { ChatController } from '../store/controller';
import { chatReducer } from '../store/reducer';
import { listMessages } from '../store/selectors';
import { flush, socketFactory } from '../test/fakeSocket';
import { BOB, conversation, ME, msg, stateWith } from '../test/fixtures';
import { ChatApp } from './ChatApp';
import { ControllerContext } from './hooks';
import { MessageRow, type RowContext } from './MessageRow';
import { ReportDialog } from './ReportDialog';

async function mountApp(routes: Record<string, unknown> = {}) {
  const f = socketFactory();
  const fetch = vi.fn(async (url: string, init: RequestInit) => {
    const key = `${init.method} ${url.split('?')[0]}`;
    if (key in routes) {
      const body = routes[key];
      return body === 204 ? new Response(null, { status: 204 }) : new Response(JSON.stringify(body), { status: 200 });
    }
    const path = url.split('?')[0]!;
    const body =
      path === '/api/v1/conversations'
        ? { conversations: [conversation({ lastSeq: 1 })] }
        : path.endsWith('/messages')
          ? { messages: [msg(1, { body: 'hello there' })], nextCursor: null, hasMore: false }
          : path.endsWith('/receipts')
            ? { receipts: [] }
            : path.endsWith('/blocks')
              ? { users: [] }
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
  act(() => {
    f.last.open();
    f.last.receive({ type: 'ready', userId: ME.id });
  });
  return { ctl, f, fetch };
}

describe('blocking in the conversation view', () => {
  it('blocking from contact info replaces the composer with a notice; Unblock brings it back', async () => {
    const { ctl, f } = await mountApp({
      'POST /api/v1/users/bob/block': 204,
      'DELETE /api/v1/users/bob/block': 204,
      'GET /api/v1/conversations/c1': conversation({ lastSeq: 1, blocked: true }),
    });
    fireEvent.click(screen.getByTestId('conversation-item'));
    await screen.findByTestId('composer-input');
    act(() => f.last.receive({ type: 'presence', userId: BOB, status: 'online', lastSeen: null }));
    expect(screen.getByTestId('conversation-subtitle').textContent).toBe('online');

    fireEvent.click(screen.getByTestId('open-info'));
    fireEvent.click(screen.getByTestId('block-user'));
    await act(async () => {
      fireEvent.click(screen.getByTestId('confirm-block'));
      await flush();
    });
    const notice = await screen.findByTestId('blocked-notice');
    expect(notice.dataset.blocked).toBe('byMe');
    expect(screen.queryByTestId('composer-input')).toBeNull();
    expect(screen.getByTestId('conversation-subtitle').textContent).toBe('blocked');

    // The server confirms the unblock with the conversation's new flag.
    await act(async () => {
      fireEvent.click(screen.getByTestId('unblock-user'));
      await flush();
    });
    act(() => f.last.receive({ type: 'conversation:updated', conversation: conversation({ lastSeq: 1, blocked: false }) }));
    await waitFor(() => expect(screen.queryByTestId('blocked-notice')).toBeNull());
    expect(screen.getByTestId('composer-input')).toBeTruthy();
    ctl.stop();
  });

  it('a chat the other person blocked shows that nobody can send', async () => {
    const { ctl, f } = await mountApp();
    fireEvent.click(screen.getByTestId('conversation-item'));
    act(() => f.last.receive({ type: 'conversation:updated', conversation: conversation({ lastSeq: 1, blocked: true }) }));
    const notice = await screen.findByTestId('blocked-notice');
    expect(notice.dataset.blocked).toBe('byThem');
    expect(screen.queryByTestId('unblock-user')).toBeNull();
    ctl.stop();
  });

  it('shows "last seen" for an offline peer', async () => {
    const { ctl, f } = await mountApp();
    fireEvent.click(screen.getByTestId('conversation-item'));
    const lastSeen = new Date(Date.now() - 5 * 60_000).toISOString();
    act(() => f.last.receive({ type: 'presence', userId: BOB, status: 'offline', lastSeen }));
    const sub = screen.getByTestId('conversation-subtitle');
    expect(sub.textContent).toBe('last seen 5 min ago');
    expect(sub.dataset.presence).toBe('offline');
    ctl.stop();
  });
});

describe('reporting a message', () => {
  it('others’ messages offer Report; own ones do not; a reported one is labelled', () => {
    let s = stateWith();
    s = chatReducer(s, { type: 'message/new', message: msg(1) });
    s = chatReducer(s, { type: 'message/new', message: msg(2, { senderId: ME.id }) });
    const actions = { reply: vi.fn(), edit: vi.fn(), remove: vi.fn(), forward: vi.fn(), react: vi.fn(), report: vi.fn(), retry: vi.fn(), discard: vi.fn(), jumpTo: vi.fn() };
    const ctx: RowContext = { cs: s.conversations.c1!, state: s, meId: ME.id, mentionMap: {}, highlightId: null, reported: {}, actions };
    const [theirs, mine] = listMessages(s.conversations.c1!);
    const { unmount } = render(<MessageRow item={theirs!} grouped={false} ctx={ctx} />);
    fireEvent.click(screen.getByTestId('action-report'));
    expect(actions.report).toHaveBeenCalledWith(expect.objectContaining({ id: 'm1' }));
    unmount();
    render(<MessageRow item={mine!} grouped={false} ctx={ctx} />);
    expect(screen.queryByTestId('action-report')).toBeNull();
    render(<MessageRow item={theirs!} grouped={false} ctx={{ ...ctx, reported: { m1: 'r1' } }} />);
    expect(screen.getByTestId('reported-label')).toBeTruthy();
  });

  it('the dialog shows the body as text, sends the reason and confirms', async () => {
    const onReport = vi.fn(async () => 'r1');
    const body = '<img src=x onerror="alert(1)"><b>bold</b>';
    render(<ReportDialog message={msg(1, { body })} senderName="Bob" onReport={onReport} onClose={vi.fn()} />);
    const quote = screen.getByTestId('report-quote');
    expect(quote.querySelector('img, b')).toBeNull();
    expect(quote.textContent).toContain(body);
    fireEvent.change(screen.getByTestId('report-reason'), { target: { value: 'Harassment or bullying' } });
    fireEvent.change(screen.getByTestId('report-details'), { target: { value: ' keeps insulting me ' } });
    await act(async () => {
      fireEvent.click(screen.getByTestId('report-submit'));
      await flush();
    });
    expect(onReport).toHaveBeenCalledWith('Harassment or bullying: keeps insulting me');
    expect(screen.getByTestId('report-done')).toBeTruthy();
  });

  it('the dialog shows a server error and stays open', async () => {
    const onReport = vi.fn(async () => {
      throw new ApiError(429, 'rate_limited', 'Too many requests');
    });
    render(<ReportDialog message={msg(1)} senderName="Bob" onReport={onReport} onClose={vi.fn()} />);
    await act(async () => {
      fireEvent.click(screen.getByTestId('report-submit'));
      await flush();
    });
    expect(screen.getByRole('alert').textContent).toMatch(/too many|slow down/i);
    expect(screen.queryByTestId('report-done')).toBeNull();
  });
});
