import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemorySessionStore, RestClient } from '../sdk/rest';
import { flush, socketFactory } from '../test/fakeSocket';
import { BOB, conversation, ME, msg } from '../test/fixtures';
import { ChatController } from './controller';
import { listMessages, messageTick, typingUsers } from './selectors';

function setup(routes: Record<string, unknown> = {}) {
  const f = socketFactory();
  const fetch = vi.fn(async (url: string, init: RequestInit) => {
    const key = `${init.method} ${url.split('?')[0]}`;
    const body = key in routes ? routes[key] : key === 'GET /api/v1/conversations' ? { conversations: [conversation({ lastSeq: 4 })] } : ME;
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  });
  const api = new RestClient({
    fetch,
    store: new MemorySessionStore({ user: ME, accessToken: 'A', refreshToken: 'R', expiresAt: Date.now() + 3_600_000 }),
  });
  let n = 0;
  const ctl = new ChatController({
    api,
    socketUrl: 'ws://test/ws',
    createSocket: f.create,
    newId: () => `id-${++n}`,
    ackTimeoutMs: 5000,
    socketOptions: { watchNetwork: false, random: () => 0 },
  });
  return { f, ctl, fetch };
}

async function online(t: ReturnType<typeof setup>) {
  await t.ctl.start();
  await flush();
  t.f.last.open();
  t.f.last.receive({ type: 'ready', userId: ME.id });
}

describe('ChatController', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    localStorage.clear();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists conversations, then syncs with their cursors on ready', async () => {
    const t = setup();
    await online(t);
    expect(t.f.last.sentOfType('sync')).toEqual([{ type: 'sync', cursors: { c1: 4 } }]);
    expect(t.ctl.state.connection).toBe('online');
    t.ctl.stop();
  });

  it('sends with a client id, marks failed on ack timeout, and retries with the same id', async () => {
    const t = setup();
    await online(t);
    const id = t.ctl.send('c1', '  hi there ')!;
    expect(id).toBe('id-1');
    expect(t.f.last.sentOfType('message:send')).toEqual([{ type: 'message:send', id, conversationId: 'c1', body: 'hi there' }]);
    vi.advanceTimersByTime(5000);
    expect(t.ctl.state.conversations.c1!.pending[0]).toMatchObject({ id, status: 'failed', error: { code: 'timeout' } });

    t.ctl.retry(id);
    const sends = t.f.last.sentOfType('message:send');
    expect(sends).toHaveLength(2);
    expect(sends[1]!.id).toBe(id);
    t.f.last.receive({ type: 'ack', ref: id, status: 'accepted' });
    vi.advanceTimersByTime(10_000);
    expect(t.ctl.state.conversations.c1!.pending[0]!.status).toBe('accepted');
    t.f.last.receive({ type: 'message:new', message: msg(5, { id, senderId: ME.id, body: 'hi there' }) });
    const cs = t.ctl.state.conversations.c1!;
    expect(listMessages(cs).map((m) => m.id)).toEqual([id]);
    expect(messageTick(cs, listMessages(cs)[0]!)).toBe('sent');
    t.ctl.stop();
  });

  it('marks failed on an error frame for that id', async () => {
    const t = setup();
    await online(t);
    const id = t.ctl.send('c1', 'x')!;
    t.f.last.receive({ type: 'error', ref: id, code: 'not_member', message: 'no' });
    expect(t.ctl.state.conversations.c1!.pending[0]).toMatchObject({ status: 'failed', error: { code: 'not_member' } });
    t.ctl.stop();
  });

  it('queues sends while offline and sends them with the same id after reconnecting', async () => {
    const t = setup();
    await online(t);
    t.f.last.serverClose();
    const id = t.ctl.send('c1', 'while offline')!;
    expect(t.ctl.state.conversations.c1!.pending[0]!.status).toBe('sending');
    vi.advanceTimersByTime(1);
    await flush();
    t.f.last.open();
    t.f.last.receive({ type: 'ready', userId: ME.id });
    const ws = t.f.last;
    expect(ws.sent.map((f) => f.type)).toEqual(['auth', 'sync', 'message:send']);
    expect(ws.sentOfType('message:send')[0]!.id).toBe(id);
    t.ctl.stop();
  });

  it('keeps unacknowledged messages across a reload and sends them with the same id', async () => {
    const first = setup();
    await online(first);
    first.f.last.serverClose();
    const id = first.ctl.send('c1', 'written before reload')!;
    first.ctl.stop();
    expect(JSON.parse(localStorage.getItem(`parley.outbox.${ME.id}`)!)).toHaveLength(1);

    const second = setup();
    await online(second);
    const sends = second.f.last.sentOfType('message:send');
    expect(sends).toEqual([{ type: 'message:send', id, conversationId: 'c1', body: 'written before reload' }]);
    second.f.last.receive({ type: 'message:new', message: msg(5, { id, senderId: ME.id, body: 'written before reload' }) });
    expect(localStorage.getItem(`parley.outbox.${ME.id}`)).toBeNull();
    second.ctl.stop();
  });

  it('rolls back a reaction that the server rejects', async () => {
    const t = setup();
    await online(t);
    t.f.last.receive({ type: 'message:new', message: msg(5) });
    t.ctl.toggleReaction('c1', 'm5', '👍');
    expect(t.ctl.state.conversations.c1!.messages[0]!.reactions).toEqual([{ emoji: '👍', userIds: [ME.id] }]);
    const frame = t.f.last.sentOfType('reaction:add')[0]!;
    expect(frame).toMatchObject({ conversationId: 'c1', messageId: 'm5', emoji: '👍' });
    t.f.last.receive({ type: 'error', ref: frame.id, code: 'forbidden', message: 'no' });
    expect(t.ctl.state.conversations.c1!.messages[0]!.reactions).toEqual([]);
    t.ctl.stop();
  });

  it('expires a typing indicator 3 s after the last start', async () => {
    const t = setup();
    await online(t);
    t.f.last.receive({ type: 'typing', conversationId: 'c1', userId: BOB, state: 'start' });
    const typing = () => typingUsers(t.ctl.state.conversations.c1!, Date.now());
    expect(typing()).toEqual([BOB]);
    vi.advanceTimersByTime(2000);
    t.f.last.receive({ type: 'typing', conversationId: 'c1', userId: BOB, state: 'start' });
    vi.advanceTimersByTime(2500);
    expect(typing()).toEqual([BOB]);
    expect(t.ctl.state.conversations.c1!.typing[BOB]).toBeDefined();
    vi.advanceTimersByTime(600);
    expect(t.ctl.state.conversations.c1!.typing).toEqual({});
    t.ctl.stop();
  });

  it('throttles typing:start to one per 2 s and sends typing:stop on send', async () => {
    const t = setup();
    await online(t);
    for (let i = 0; i < 10; i++) {
      t.ctl.typingInput('c1');
      vi.advanceTimersByTime(300);
    }
    expect(t.f.last.sentOfType('typing:start')).toHaveLength(2);
    t.ctl.send('c1', 'done');
    expect(t.f.last.sentOfType('typing:stop')).toHaveLength(1);
    t.ctl.typingStop('c1');
    expect(t.f.last.sentOfType('typing:stop')).toHaveLength(1);
    t.ctl.stop();
  });

  it('acknowledges delivery of incoming messages, coalesced to the highest seq', async () => {
    const t = setup();
    await online(t);
    t.f.last.receive({ type: 'message:new', message: msg(5) });
    t.f.last.receive({ type: 'message:new', message: msg(6) });
    t.f.last.receive({ type: 'message:new', message: msg(7, { senderId: ME.id }) });
    vi.advanceTimersByTime(300);
    expect(t.f.last.sentOfType('message:delivered')).toEqual([{ type: 'message:delivered', conversationId: 'c1', seq: 6 }]);
    t.ctl.stop();
  });

  it('sends message:read once per new watermark', async () => {
    const t = setup();
    await online(t);
    t.f.last.receive({ type: 'message:new', message: msg(5) });
    t.ctl.markRead('c1', 5);
    t.ctl.markRead('c1', 5);
    t.ctl.markRead('c1', 3);
    expect(t.f.last.sentOfType('message:read')).toEqual([{ type: 'message:read', conversationId: 'c1', seq: 5 }]);
    expect(t.ctl.state.conversations.c1!.conversation.unreadCount).toBe(0);
    t.ctl.stop();
  });

  it('asks the server to fill a gap that does not close by itself', async () => {
    const t = setup();
    await online(t);
    t.f.last.receive({ type: 'sync:done' });
    t.f.last.receive({ type: 'message:new', message: msg(7) });
    vi.advanceTimersByTime(600);
    const syncs = t.f.last.sentOfType('sync');
    expect(syncs).toHaveLength(2);
    expect(syncs[1]).toEqual({ type: 'sync', cursors: { c1: 4 } });
    t.ctl.stop();
  });

  it('fetches an unknown conversation before applying its first message', async () => {
    const t = setup({ 'GET /api/v1/conversations/c9': conversation({ id: 'c9', lastSeq: 1 }) });
    await online(t);
    t.f.last.receive({ type: 'message:new', message: msg(1, { conversationId: 'c9' }) });
    vi.useRealTimers();
    await new Promise((r) => setTimeout(r, 10));
    expect(t.ctl.state.conversations.c9!.messages.map((m) => m.id)).toEqual(['m1']);
    t.ctl.stop();
  });
});
