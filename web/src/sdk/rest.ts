/**
 * Typed REST client for /api/v1.
 *
 * Adds the bearer token to authenticated calls and, when the server answers
 * 401 `token_expired`, refreshes the session once (single flight, refresh
 * token rotation) and replays the call. Every failure is an ApiError with the
 * server's stable `code`.
 */
import type {
  AuthResponse,
  Conversation,
  ConversationListResponse,
  CreateConversationRequest,
  LoginRequest,
  MessagePage,
  ReceiptsResponse,
  RegisterRequest,
  ReportCreated,
  RestSendResponse,
  UpdateMeRequest,
  User,
  UserSearchResponse,
  Uuid,
} from './types';
import { normalizeMessage } from './types';
import type { MessagePage as WireMessagePage } from './wire.gen';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Status used for failures that never reached the server (offline, DNS, CORS). */
export const NETWORK_ERROR_STATUS = 0;

export interface Session {
  user: User;
  accessToken: string;
  refreshToken: string;
  /** Epoch ms at which the access token expires. */
  expiresAt: number;
}

export interface SessionStore {
  load(): Session | null;
  save(session: Session | null): void;
}

export class MemorySessionStore implements SessionStore {
  private session: Session | null;
  constructor(initial: Session | null = null) {
    this.session = initial;
  }
  load(): Session | null {
    return this.session;
  }
  save(session: Session | null): void {
    this.session = session;
  }
}

/** Keeps the session in localStorage so a reload (or another tab) stays signed in. */
export class LocalSessionStore implements SessionStore {
  constructor(private readonly key = 'parley.session') {}
  load(): Session | null {
    try {
      const raw = globalThis.localStorage?.getItem(this.key);
      if (!raw) return null;
      const s = JSON.parse(raw) as Session;
      return s && typeof s.accessToken === 'string' && typeof s.refreshToken === 'string' ? s : null;
    } catch {
      return null;
    }
  }
  save(session: Session | null): void {
    try {
      if (session) globalThis.localStorage?.setItem(this.key, JSON.stringify(session));
      else globalThis.localStorage?.removeItem(this.key);
    } catch {
      // Storage may be unavailable (private mode quotas); the in-memory copy still works.
    }
  }
}

export interface RestClientOptions {
  /** Defaults to `/api/v1` on the page's origin. */
  baseUrl?: string;
  store?: SessionStore;
  fetch?: FetchLike;
  now?: () => number;
  /** Called whenever the stored session changes (login, refresh, logout). */
  onSessionChange?: (session: Session | null) => void;
  /** Called when the session can no longer be refreshed and the user must sign in again. */
  onSessionExpired?: () => void;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

interface RequestOptions {
  body?: unknown;
  auth?: boolean;
  query?: Record<string, string | number | undefined | null>;
}

/** Refresh the access token this long before it expires. */
const REFRESH_MARGIN_MS = 30_000;

export class RestClient {
  private readonly baseUrl: string;
  private readonly store: SessionStore;
  private readonly fetchImpl: FetchLike;
  private readonly now: () => number;
  private session: Session | null;
  private refreshing: Promise<Session> | null = null;
  private readonly sessionListeners = new Set<(session: Session | null) => void>();

  constructor(private readonly opts: RestClientOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? '/api/v1').replace(/\/$/, '');
    this.store = opts.store ?? new MemorySessionStore();
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.now = opts.now ?? Date.now;
    this.session = this.store.load();
  }

  getSession(): Session | null {
    return this.session;
  }

  /** Observes login, refresh, profile changes and logout. */
  subscribeSession(listener: (session: Session | null) => void): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  private setSession(session: Session | null): void {
    this.session = session;
    this.store.save(session);
    this.opts.onSessionChange?.(session);
    for (const l of [...this.sessionListeners]) l(session);
  }

  private sessionFrom(auth: AuthResponse): Session {
    return {
      user: auth.user,
      accessToken: auth.accessToken,
      refreshToken: auth.refreshToken,
      expiresAt: this.now() + auth.expiresIn * 1000,
    };
  }

  /** Updates the cached user (after PATCH /users/me) without touching tokens. */
  private setUser(user: User): void {
    if (this.session) this.setSession({ ...this.session, user: { ...this.session.user, ...user } });
  }

  // ------------------------------------------------------------ token handling

  /**
   * A valid access token for the WebSocket auth frame. Refreshes first when the
   * token is about to expire or when `force` is set (the server said expired).
   */
  async getAccessToken(force = false): Promise<string> {
    const s = this.session;
    if (!s) throw new ApiError(401, 'not_authenticated', 'Not signed in');
    if (force || s.expiresAt - this.now() < REFRESH_MARGIN_MS) {
      return (await this.refresh()).accessToken;
    }
    return s.accessToken;
  }

  /** Rotates the refresh token. Concurrent callers share one request. */
  refresh(): Promise<Session> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<Session> {
    const current = this.session;
    if (!current) throw new ApiError(401, 'not_authenticated', 'Not signed in');
    try {
      const auth = await this.send<AuthResponse>('POST', '/auth/refresh', {
        body: { refreshToken: current.refreshToken },
        auth: false,
      });
      const next = this.sessionFrom(auth);
      this.setSession(next);
      return next;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        // Another tab may have rotated the token first: adopt its session.
        const stored = this.store.load();
        if (stored && stored.refreshToken !== current.refreshToken) {
          this.session = stored;
          return stored;
        }
        this.setSession(null);
        this.opts.onSessionExpired?.();
      }
      throw err;
    }
  }

  // ------------------------------------------------------------ transport

  private async send<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const url = new URL(this.baseUrl + path, globalThis.location?.origin ?? 'http://localhost');
    for (const [k, v] of Object.entries(o.query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (o.body !== undefined) headers['Content-Type'] = 'application/json';
    if (o.auth !== false) {
      const s = this.session;
      if (!s) throw new ApiError(401, 'not_authenticated', 'Not signed in');
      headers.Authorization = `Bearer ${s.accessToken}`;
    }
    const target = /^https?:/.test(this.baseUrl) ? url.toString() : url.pathname + url.search;
    let res: Response;
    try {
      res = await this.fetchImpl(target, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
      });
    } catch (err) {
      throw new ApiError(NETWORK_ERROR_STATUS, 'unavailable', err instanceof Error ? err.message : 'Network error');
    }
    if (res.ok) {
      if (res.status === 204) return undefined as T;
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    }
    let code = 'internal';
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const body = (await res.json()) as { code?: unknown; message?: unknown };
      if (typeof body.code === 'string') code = body.code;
      if (typeof body.message === 'string') message = body.message;
    } catch {
      // Not a JSON error body (proxy page, empty body): keep the HTTP status text.
    }
    throw new ApiError(res.status, code, message);
  }

  private async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    try {
      return await this.send<T>(method, path, o);
    } catch (err) {
      if (o.auth !== false && err instanceof ApiError && err.status === 401 && err.code === 'token_expired') {
        await this.refresh();
        return this.send<T>(method, path, o);
      }
      throw err;
    }
  }

  // ------------------------------------------------------------ auth

  async register(req: { username: string; password: string; displayName?: string }): Promise<Session> {
    const body: RegisterRequest = { username: req.username, password: req.password };
    if (req.displayName) body.displayName = req.displayName;
    const auth = await this.send<AuthResponse>('POST', '/auth/register', { body, auth: false });
    const s = this.sessionFrom(auth);
    this.setSession(s);
    return s;
  }

  async login(req: LoginRequest): Promise<Session> {
    const auth = await this.send<AuthResponse>('POST', '/auth/login', { body: req, auth: false });
    const s = this.sessionFrom(auth);
    this.setSession(s);
    return s;
  }

  /** Revokes the refresh token on the server (best effort) and forgets the session. */
  async logout(): Promise<void> {
    const s = this.session;
    this.setSession(null);
    if (!s) return;
    try {
      await this.send<void>('POST', '/auth/logout', { body: { refreshToken: s.refreshToken }, auth: false });
    } catch {
      // The local session is gone either way; the token expires on its own.
    }
  }

  // ------------------------------------------------------------ users

  async me(): Promise<User> {
    const user = await this.request<User>('GET', '/users/me');
    this.setUser(user);
    return user;
  }

  async updateMe(patch: UpdateMeRequest): Promise<User> {
    const user = await this.request<User>('PATCH', '/users/me', { body: patch });
    this.setUser({ ...user, ...pickSettings(patch, user) });
    return user;
  }

  async searchUsers(q: string): Promise<User[]> {
    const res = await this.request<UserSearchResponse>('GET', '/users/search', { query: { q } });
    return res?.users ?? [];
  }

  getUser(id: Uuid): Promise<User> {
    return this.request<User>('GET', `/users/${enc(id)}`);
  }

  blockUser(id: Uuid): Promise<void> {
    return this.request<void>('POST', `/users/${enc(id)}/block`);
  }

  unblockUser(id: Uuid): Promise<void> {
    return this.request<void>('DELETE', `/users/${enc(id)}/block`);
  }

  /** The users the signed-in user has blocked. */
  async listBlocks(): Promise<User[]> {
    const res = await this.request<UserSearchResponse>('GET', '/users/me/blocks');
    return res?.users ?? [];
  }

  // ------------------------------------------------------------ conversations

  async listConversations(): Promise<Conversation[]> {
    const res = await this.request<ConversationListResponse>('GET', '/conversations');
    return res?.conversations ?? [];
  }

  createConversation(req: CreateConversationRequest): Promise<Conversation> {
    return this.request<Conversation>('POST', '/conversations', { body: req });
  }

  getConversation(id: Uuid): Promise<Conversation> {
    return this.request<Conversation>('GET', `/conversations/${enc(id)}`);
  }

  renameConversation(id: Uuid, name: string): Promise<Conversation> {
    return this.request<Conversation>('PATCH', `/conversations/${enc(id)}`, { body: { name } });
  }

  addMembers(id: Uuid, userIds: Uuid[]): Promise<Conversation> {
    return this.request<Conversation>('POST', `/conversations/${enc(id)}/members`, { body: { userIds } });
  }

  /** Removing oneself is leaving the conversation. */
  removeMember(id: Uuid, userId: Uuid): Promise<Conversation> {
    return this.request<Conversation>('DELETE', `/conversations/${enc(id)}/members/${enc(userId)}`);
  }

  /** One page of history, newest first, its messages complete (normalizeMessage). */
  async listMessages(id: Uuid, opts: { before?: number; limit?: number } = {}): Promise<MessagePage> {
    const page = await this.request<WireMessagePage>('GET', `/conversations/${enc(id)}/messages`, {
      query: { before: opts.before, limit: opts.limit ?? 50 },
    });
    return { ...page, messages: page.messages.map(normalizeMessage) };
  }

  sendMessage(conversationId: Uuid, id: Uuid, body: string): Promise<RestSendResponse> {
    return this.request<RestSendResponse>('POST', `/conversations/${enc(conversationId)}/messages`, {
      body: { id, body },
    });
  }

  markRead(conversationId: Uuid, seq: number): Promise<void> {
    return this.request<void>('PUT', `/conversations/${enc(conversationId)}/read`, { body: { seq } });
  }

  async receipts(conversationId: Uuid): Promise<ReceiptsResponse['receipts']> {
    const res = await this.request<ReceiptsResponse>('GET', `/conversations/${enc(conversationId)}/receipts`);
    return res?.receipts ?? [];
  }

  /** Reports a message to the moderators; answers the report's id (201). */
  reportMessage(conversationId: Uuid, messageId: Uuid, reason: string): Promise<ReportCreated> {
    return this.request<ReportCreated>('POST', `/conversations/${enc(conversationId)}/messages/${enc(messageId)}/report`, {
      body: { reason },
    });
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Keeps the settings the user just saved when the server does not echo them back. */
function pickSettings(patch: UpdateMeRequest, user: User): Partial<User> {
  const out: Partial<User> = {};
  if (patch.readReceipts !== undefined && user.readReceipts == null) out.readReceipts = patch.readReceipts;
  if (patch.presencePrivacy !== undefined && user.presencePrivacy == null)
    out.presencePrivacy = patch.presencePrivacy;
  return out;
}
