import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemorySessionStore, RestClient } from '../sdk/rest';
import { flush, socketFactory } from '../test/fakeSocket';
import { BOB, CAROL, conversation, group, ME, msg, stateWith } from '../test/fixtures';
import { ChatController } from './controller';
import { chatReducer, type ChatAction } from './reducer';
import { blockState } from './selectors';
import type { ChatState } from './state';

const bob = { id: BOB, username: 'bob', displayName: 'Bob', avatarUrl: null };

function run(s: ChatState, ...actions: ChatAction[]): ChatState {
  return actions.reduce(chatReducer, s);
}

describe('blocking, reports and presence in the reducer', () => {
  it('loads the blocked list and derives who closed a direct chat', () => {
    let s = stateWith(conversation(), group());
    expect(blockState(s, s.conversations.c1!)).toBeNull();
    s = run(s, { type: 'blocks/loaded', users: [bob] });
    expect(Object.keys(s.blocked)).toEqual([BOB]);
    // Bob is blocked by me: the direct chat is closed from my side (even before the server flag arrives).
    expect(blockState(s, s.conversations.c1!)).toBe('byMe');
    // The group with Bob stays open: blocking only closes the direct chat.
    expect(blockState(s, s.conversations.g1!)).toBeNull();
  });

  it('block/set closes the direct chat at once; unblock waits for the server flag', () => {
    let s = stateWith(conversation(), group());
    s = run(s, { type: 'block/set', user: bob, blocked: true });
    expect(s.conversations.c1!.conversation.blocked).toBe(true);
    expect(s.conversations.g1!.conversation.blocked).toBeUndefined();
    expect(blockState(s, s.conversations.c1!)).toBe('byMe');

    s = run(s, { type: 'block/set', user: bob, blocked: false });
    expect(s.blocked).toEqual({});
    // Still flagged until the server says otherwise (the other person may have blocked me too).
    expect(blockState(s, s.conversations.c1!)).toBe('byThem');
    s = run(s, { type: 'conversation/upsert', conversation: conversation({ blocked: false }) });
    expect(blockState(s, s.conversations.c1!)).toBeNull();
  });

  it('a server flag without a block of mine means the other person blocked me', () => {
    let s = stateWith(conversation());
    s = run(s, { type: 'conversation/upsert', conversation: conversation({ blocked: true }) });
    expect(blockState(s, s.conversations.c1!)).toBe('byThem');
    // Blocking keeps history: messages stay.
    s = run(s, { type: 'message/new', message: msg(1) });
    expect(s.conversations.c1!.messages).toHaveLength(1);
  });

  it('repeated block/set and conversation/blocked are no-ops', () => {
    let s = stateWith(conversation());
    s = run(s, { type: 'block/set', user: bob, blocked: true });
    expect(run(s, { type: 'block/set', user: bob, blocked: true })).toBe(s);
    expect(run(s, { type: 'conversation/blocked', id: 'c1', blocked: true })).toBe(s);
    expect(run(s, { type: 'conversation/blocked', id: 'nope', blocked: true })).toBe(s);
  });

  it('remembers reported messages', () => {
    let s = stateWith();
    s = run(s, { type: 'report/done', messageId: 'm1', reportId: 'r1' });
    expect(s.reported).toEqual({ m1: 'r1' });
    expect(run(s, { type: 'report/done', messageId: 'm1', reportId: 'r1' })).toBe(s);
  });

  it('sign-out forgets blocks and reports', () => {
    let s = stateWith();
    s = run(s, { type: 'blocks/loaded', users: [bob] }, { type: 'report/done', messageId: 'm1', reportId: 'r1' });
    s = run(s, { type: 'session/set', me: null });
    expect(s.blocked).toEqual({});
    expect(s.reported).toEqual({});
  });
});

function setup(routes: Record<string, unknown> = {}) {
  const f = socketFactory();
  const calls: string[] = [];
  const fetch = vi.fn(async (url: string, init: RequestInit) => {
    const key = `${init.method} ${url.split('?')[0]}`;
    calls.push(key);
    if (key in routes) {
      const body = routes[key];
      if (body === 204) return new Response(null, { status: 204 });
      const status = (body as { code?: string }).code ? 503 : key.startsWith('POST') ? 201 : 200;
      return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    }
    const body =
      key === 'GET /api/v1/conversations'
        ? { conversations: [conversation({ lastSeq: 0 }), group({ lastSeq: 0 })] }
        : key === 'GET /api/v1/users/me/blocks'
          ? { users: [] }
          : key.endsWith('/messages')
            ? { messages: [], nextCursor: null, hasMore: false }
            : key.endsWith('/receipts')
              ? { receipts: [] }
              : ME;
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
    socketOptions: { watchNetwork: false, random: () => 0 },
  });
  return { f, ctl, calls };
}

async function online(t: ReturnType<typeof setup>) {
  await t.ctl.start();
  await flush();
  t.f.last.open();
  t.f.last.receive({ type: 'ready', userId: ME.id });
  await flush();
}

describe('ChatController: blocking, reports, presence', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    localStorage.clear();
  });
  afterEach(() => vi.useRealTimers());

  it('loads the blocked list at start', async () => {
    const t = setup({ 'GET /api/v1/users/me/blocks': { users: [bob] } });
    await online(t);
    expect(t.calls).toContain('GET /api/v1/users/me/blocks');
    expect(Object.keys(t.ctl.state.blocked)).toEqual([BOB]);
    t.ctl.stop();
  });

  it('blocks and unblocks through REST and re-reads the direct chat', async () => {
    const t = setup({
      'POST /api/v1/users/bob/block': 204,
      'DELETE /api/v1/users/bob/block': 204,
      'GET /api/v1/conversations/c1': conversation({ blocked: true }),
    });
    await online(t);
    await t.ctl.blockUser(BOB);
    expect(t.calls).toContain('POST /api/v1/users/bob/block');
    expect(t.calls).toContain('GET /api/v1/conversations/c1');
    expect(blockState(t.ctl.state, t.ctl.state.conversations.c1!)).toBe('byMe');
    expect(t.ctl.state.blocked[BOB]?.displayName).toBe('Bob');
    await t.ctl.unblockUser(BOB);
    expect(t.calls).toContain('DELETE /api/v1/users/bob/block');
    // The re-read conversation still says blocked (here: as if Bob blocked me too).
    expect(blockState(t.ctl.state, t.ctl.state.conversations.c1!)).toBe('byThem');
    t.ctl.stop();
  });

  it('blocking is optimistic and rolled back when the server refuses', async () => {
    const t = setup({ 'POST /api/v1/users/bob/block': { code: 'unavailable', message: 'down' } });
    await online(t);
    const pending = t.ctl.blockUser(BOB);
    // Before the answer: already closed, by me.
    expect(blockState(t.ctl.state, t.ctl.state.conversations.c1!)).toBe('byMe');
    await expect(pending).rejects.toMatchObject({ code: 'unavailable' });
    expect(t.ctl.state.blocked).toEqual({});
    expect(blockState(t.ctl.state, t.ctl.state.conversations.c1!)).toBeNull();
    t.ctl.stop();
  });

  it('an error frame with code "blocked" fails the send and closes the chat', async () => {
    const t = setup();
    await online(t);
    const id = t.ctl.send('c1', 'hello')!;
    t.f.last.receive({ type: 'error', ref: id, code: 'blocked', message: 'this conversation is blocked; nobody can send in it' });
    const cs = t.ctl.state.conversations.c1!;
    expect(cs.pending[0]!.status).toBe('failed');
    expect(cs.pending[0]!.error?.code).toBe('blocked');
    expect(cs.conversation.blocked).toBe(true);
    t.ctl.stop();
  });

  it('conversation:removed drops the conversation', async () => {
    const t = setup();
    await online(t);
    t.f.last.receive({ type: 'conversation:removed', conversationId: 'g1' });
    expect(t.ctl.state.conversations.g1).toBeUndefined();
    t.ctl.stop();
  });

  it('reports a message and remembers the report id', async () => {
    const t = setup({ 'POST /api/v1/conversations/c1/messages/m1/report': { id: 'report-1' } });
    await online(t);
    await expect(t.ctl.reportMessage('c1', 'm1', 'Spam')).resolves.toBe('report-1');
    expect(t.ctl.state.reported).toEqual({ m1: 'report-1' });
    t.ctl.stop();
  });

  it('presence frames (lastSeen optional) and a REST look-up for an unknown direct peer', async () => {
    const t = setup({
      'GET /api/v1/users/bob': { ...bob, presence: { status: 'offline', lastSeen: '2026-01-01T10:00:00Z' } },
    });
    await online(t);
    await t.ctl.openConversation('c1');
    await flush();
    expect(t.calls).toContain('GET /api/v1/users/bob');
    expect(t.ctl.state.presence[BOB]).toEqual({ status: 'offline', lastSeen: '2026-01-01T10:00:00Z' });
    t.f.last.receive({ type: 'presence', userId: BOB, status: 'online' });
    expect(t.ctl.state.presence[BOB]).toEqual({ status: 'online', lastSeen: null });
    // Known presence: no second look-up.
    await t.ctl.openConversation(null);
    await t.ctl.openConversation('c1');
    expect(t.calls.filter((c) => c === 'GET /api/v1/users/bob')).toHaveLength(1);
    // Groups never look anyone up.
    await t.ctl.openConversation('g1');
    expect(t.calls).not.toContain(`GET /api/v1/users/${CAROL}`);
    t.ctl.stop();
  });
});
