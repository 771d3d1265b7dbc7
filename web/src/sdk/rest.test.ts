import { describe, expect, it, vi } from 'vitest';
import { ApiError, MemorySessionStore, RestClient, type Session } from './rest';
import type { AuthResponse } from './types';

const user = { id: 'u1', username: 'ann', displayName: 'Ann', avatarUrl: null };

function session(access: string, refresh: string): Session {
  return { user, accessToken: access, refreshToken: refresh, expiresAt: Date.now() + 600_000 };
}

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

function auth(access: string, refresh: string): AuthResponse {
  return { user, accessToken: access, refreshToken: refresh, expiresIn: 900 };
}

describe('RestClient', () => {
  it('sends the bearer token and parses JSON', async () => {
    const fetch = vi.fn(async () => json(200, { conversations: [] }));
    const api = new RestClient({ fetch, store: new MemorySessionStore(session('A1', 'R1')) });
    await expect(api.listConversations()).resolves.toEqual([]);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/conversations');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer A1');
  });

  it('raises a typed ApiError with the stable code', async () => {
    const fetch = vi.fn(async () => json(409, { code: 'username_taken', message: 'taken' }));
    const api = new RestClient({ fetch });
    const err = await api.register({ username: 'ann', password: 'pw' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: 'username_taken', message: 'taken' });
  });

  it('maps network failures to status 0 / unavailable', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const api = new RestClient({ fetch, store: new MemorySessionStore(session('A1', 'R1')) });
    await expect(api.me()).rejects.toMatchObject({ status: 0, code: 'unavailable' });
  });

  it('refreshes once on 401 token_expired, rotates the refresh token and replays the call', async () => {
    const store = new MemorySessionStore(session('A1', 'R1'));
    const calls: string[] = [];
    const fetch = vi.fn(async (url: string, init: RequestInit) => {
      const authz = (init.headers as Record<string, string>).Authorization ?? '';
      calls.push(`${init.method} ${url} ${authz}`);
      if (url.endsWith('/auth/refresh')) {
        expect(JSON.parse(String(init.body))).toEqual({ refreshToken: 'R1' });
        return json(200, auth('A2', 'R2'));
      }
      if (authz === 'Bearer A1') return json(401, { code: 'token_expired', message: 'expired' });
      return json(200, user);
    });
    const onSessionChange = vi.fn();
    const api = new RestClient({ fetch, store, onSessionChange });
    await expect(api.me()).resolves.toEqual(user);
    expect(calls).toEqual([
      'GET /api/v1/users/me Bearer A1',
      'POST /api/v1/auth/refresh ',
      'GET /api/v1/users/me Bearer A2',
    ]);
    expect(store.load()).toMatchObject({ accessToken: 'A2', refreshToken: 'R2' });
    expect(onSessionChange).toHaveBeenCalled();
  });

  it('shares one refresh between concurrent calls (rotation would revoke a second one)', async () => {
    const store = new MemorySessionStore(session('A1', 'R1'));
    let refreshes = 0;
    const fetch = vi.fn(async (url: string, init: RequestInit) => {
      if (url.endsWith('/auth/refresh')) {
        refreshes++;
        await new Promise((r) => setTimeout(r, 5));
        return json(200, auth('A2', 'R2'));
      }
      const authz = (init.headers as Record<string, string>).Authorization;
      if (authz === 'Bearer A1') return json(401, { code: 'token_expired', message: 'expired' });
      return json(200, { users: [] });
    });
    const api = new RestClient({ fetch, store });
    await Promise.all([api.searchUsers('a'), api.searchUsers('b'), api.searchUsers('c')]);
    expect(refreshes).toBe(1);
  });

  it('does not refresh for other 401 codes', async () => {
    const fetch = vi.fn(async () => json(401, { code: 'invalid_token', message: 'bad' }));
    const api = new RestClient({ fetch, store: new MemorySessionStore(session('A1', 'R1')) });
    await expect(api.me()).rejects.toMatchObject({ code: 'invalid_token' });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('ends the session when the refresh token is rejected', async () => {
    const store = new MemorySessionStore(session('A1', 'R1'));
    const fetch = vi.fn(async (url: string) =>
      url.endsWith('/auth/refresh')
        ? json(401, { code: 'invalid_token', message: 'revoked' })
        : json(401, { code: 'token_expired', message: 'expired' }),
    );
    const onSessionExpired = vi.fn();
    const api = new RestClient({ fetch, store, onSessionExpired });
    await expect(api.me()).rejects.toMatchObject({ code: 'invalid_token' });
    expect(store.load()).toBeNull();
    expect(onSessionExpired).toHaveBeenCalledOnce();
  });

  it('getAccessToken refreshes a token that is about to expire', async () => {
    const s = { ...session('A1', 'R1'), expiresAt: Date.now() + 1000 };
    const fetch = vi.fn(async () => json(200, auth('A2', 'R2')));
    const api = new RestClient({ fetch, store: new MemorySessionStore(s) });
    await expect(api.getAccessToken()).resolves.toBe('A2');
    await expect(api.getAccessToken()).resolves.toBe('A2');
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('builds history queries and encodes path segments', async () => {
    const fetch = vi.fn(async (_url: string) => json(200, { messages: [], nextCursor: null, hasMore: false }));
    const api = new RestClient({ fetch, store: new MemorySessionStore(session('A1', 'R1')) });
    await api.listMessages('c/1', { before: 120 });
    expect(fetch.mock.calls[0]![0]).toBe('/api/v1/conversations/c%2F1/messages?before=120&limit=50');
  });

  it('fills the message fields a history page may leave out', async () => {
    const short = { id: 'm1', seq: 3, conversationId: 'c1', senderId: 'u1', body: 'hi', createdAt: '2026-01-01T00:00:00Z' };
    const fetch = vi.fn(async () => json(200, { messages: [short], hasMore: false }));
    const api = new RestClient({ fetch, store: new MemorySessionStore(session('A1', 'R1')) });
    const page = await api.listMessages('c1');
    expect(page.messages[0]).toEqual({
      ...short,
      editedAt: null,
      deleted: false,
      replyTo: null,
      forwardedFrom: null,
      mentions: [],
      reactions: [],
    });
  });

  it('handles 204 answers and logout revokes the refresh token', async () => {
    const fetch = vi.fn(async () => new Response(null, { status: 204 }));
    const store = new MemorySessionStore(session('A1', 'R1'));
    const api = new RestClient({ fetch, store });
    await expect(api.markRead('c1', 5)).resolves.toBeUndefined();
    await api.logout();
    expect(store.load()).toBeNull();
    const [url, init] = fetch.mock.calls[1] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/auth/logout');
    expect(JSON.parse(String(init.body))).toEqual({ refreshToken: 'R1' });
  });
});
