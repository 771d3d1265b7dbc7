import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { flush, socketFactory } from '../test/fakeSocket';
import { ApiError } from './rest';
import { ParleySocket, type ConnectionState } from './socket';
import type { ServerFrame } from './types';

function setup(over: Partial<ConstructorParameters<typeof ParleySocket>[0]> = {}) {
  const f = socketFactory();
  const states: ConnectionState[] = [];
  const frames: ServerFrame[] = [];
  let cursors: Record<string, number> = { c1: 5 };
  const getToken = vi.fn(async (force: boolean) => (force ? 'fresh' : 'tok'));
  const socket = new ParleySocket({
    url: 'ws://test/ws',
    getToken,
    getCursors: () => cursors,
    createSocket: f.create,
    random: () => 0.5,
    watchNetwork: false,
    onStateChange: (s) => states.push(s),
    onFrame: (fr) => frames.push(fr),
    ...over,
  });
  return {
    f,
    socket,
    states,
    frames,
    getToken,
    setCursors: (c: Record<string, number>) => {
      cursors = c;
    },
  };
}

async function connect(t: ReturnType<typeof setup>) {
  await flush();
  t.f.last.open();
  t.f.last.receive({ type: 'ready', userId: 'u1' });
}

describe('ParleySocket', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends auth first, goes online on ready, then syncs with the cursors', async () => {
    const t = setup();
    t.socket.start();
    expect(t.socket.state).toBe('connecting');
    await flush();
    const ws = t.f.last;
    ws.open();
    expect(ws.sent).toEqual([{ type: 'auth', token: 'tok' }]);
    expect(t.socket.send({ type: 'typing:start', conversationId: 'c1' })).toBe(false);
    ws.receive({ type: 'ready', userId: 'u1' });
    expect(t.socket.state).toBe('online');
    expect(ws.sent[1]).toEqual({ type: 'sync', cursors: { c1: 5 } });
    expect(t.frames[0]).toEqual({ type: 'ready', userId: 'u1' });
    expect(t.socket.send({ type: 'typing:start', conversationId: 'c1' })).toBe(true);
    t.socket.stop();
  });

  it('reconnects with full-jitter backoff and syncs again with the latest cursors', async () => {
    const t = setup();
    t.socket.start();
    await connect(t);
    t.setCursors({ c1: 9, c2: 3 });
    t.f.last.serverClose();
    expect(t.socket.state).toBe('reconnecting');
    // attempt 0: window 500 ms, random 0.5 → 250 ms
    vi.advanceTimersByTime(249);
    await flush();
    expect(t.f.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    await flush();
    expect(t.f.sockets).toHaveLength(2);
    t.f.last.open();
    t.f.last.receive({ type: 'ready', userId: 'u1' });
    expect(t.f.last.sentOfType('sync')).toEqual([{ type: 'sync', cursors: { c1: 9, c2: 3 } }]);
    expect(t.states).toEqual(['connecting', 'online', 'reconnecting', 'online']);
    t.socket.stop();
  });

  it('grows the delay per failed attempt and caps it', async () => {
    const t = setup({ backoff: { baseMs: 100, maxMs: 1000 }, random: () => 0.999 });
    t.socket.start();
    await flush();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = t.f.sockets.length;
      t.f.last.serverClose();
      let waited = 0;
      while (t.f.sockets.length === before) {
        vi.advanceTimersByTime(1);
        waited++;
        await flush();
      }
      delays.push(waited);
    }
    // floor(0.999 * min(1000, 100 * 2^n))
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
    t.socket.stop();
  });

  it('honours the server reconnect frame delay', async () => {
    const t = setup();
    t.socket.start();
    await connect(t);
    t.f.last.receive({ type: 'reconnect', afterMs: 3000 });
    expect(t.f.sockets[0]!.closed).toBe(true);
    expect(t.socket.state).toBe('reconnecting');
    vi.advanceTimersByTime(2999);
    await flush();
    expect(t.f.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    await flush();
    expect(t.f.sockets).toHaveLength(2);
    t.socket.stop();
  });

  it('pings and drops a connection that stays silent', async () => {
    const t = setup({ pingIntervalMs: 1000, pongTimeoutMs: 500 });
    t.socket.start();
    await connect(t);
    vi.advanceTimersByTime(1000);
    expect(t.f.last.sentOfType('ping')).toHaveLength(1);
    t.f.last.receive({ type: 'pong', ref: 'p1' });
    vi.advanceTimersByTime(1000);
    expect(t.f.last.sentOfType('ping')).toHaveLength(2);
    vi.advanceTimersByTime(500);
    expect(t.f.sockets[0]!.closed).toBe(true);
    expect(t.socket.state).toBe('reconnecting');
    t.socket.stop();
  });

  it('refreshes the token when the server rejects it before ready', async () => {
    const t = setup();
    t.socket.start();
    await flush();
    t.f.last.open();
    t.f.last.receive({ type: 'error', code: 'token_expired', message: 'expired' });
    vi.advanceTimersByTime(1000);
    await flush();
    expect(t.getToken).toHaveBeenLastCalledWith(true);
    t.f.last.open();
    expect(t.f.last.sent[0]).toEqual({ type: 'auth', token: 'fresh' });
    t.socket.stop();
  });

  it('gives up and reports when the session cannot be refreshed', async () => {
    const onAuthFailed = vi.fn();
    const t = setup({
      onAuthFailed,
      getToken: async () => {
        throw new ApiError(401, 'invalid_token', 'revoked');
      },
    });
    t.socket.start();
    await flush();
    expect(onAuthFailed).toHaveBeenCalledOnce();
    expect(t.socket.state).toBe('offline');
  });

  it('does not retry while paused and reconnects at once on resume', async () => {
    const t = setup();
    t.socket.start();
    await connect(t);
    t.socket.pause();
    expect(t.socket.state).toBe('offline');
    vi.advanceTimersByTime(60_000);
    await flush();
    expect(t.f.sockets).toHaveLength(1);
    t.socket.resume();
    await flush();
    expect(t.f.sockets).toHaveLength(2);
    expect(t.socket.state).toBe('reconnecting');
    t.socket.stop();
  });

  it('ignores malformed and unknown frames', async () => {
    const t = setup();
    t.socket.start();
    await connect(t);
    t.f.last.onmessage?.({ data: 'not json' });
    t.f.last.receive({ type: 'from:the:future' });
    t.f.last.receive({ type: 'ack', ref: 'x', status: 'accepted' });
    expect(t.frames.map((f) => f.type)).toEqual(['ready', 'ack']);
    t.socket.stop();
  });
});
