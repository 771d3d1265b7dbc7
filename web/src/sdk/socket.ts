/**
 * WebSocket client for /ws.
 *
 * - Sends the `auth` frame first and treats the connection as online only
 *   after the server's `ready`.
 * - On every (re)connect sends `sync` with the last seq held per conversation.
 * - Reconnects with exponential backoff and full jitter, capped; honours the
 *   server's `{"type":"reconnect","afterMs"}` when an edge drains.
 * - Keeps the connection alive with `ping` and treats a silent socket as dead.
 * - Pauses while the browser reports no network and resumes at once when it
 *   comes back.
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { ApiError } from './rest';
import { parseServerFrame, type ClientFrame, type ServerFrame } from './types';

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'reconnecting';

/** The subset of the DOM WebSocket this client uses (lets tests plug a fake). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type SocketFactory = (url: string) => SocketLike;

export interface ParleySocketOptions {
  /** Absolute ws(s) URL; see `defaultSocketUrl()`. */
  url: string;
  /** Access token for the auth frame; `force` asks for a refreshed one. */
  getToken: (force: boolean) => Promise<string>;
  /** The cursor (highest contiguous seq held) of every conversation the client knows. */
  getCursors: () => Record<string, number>;
  createSocket?: SocketFactory;
  backoff?: BackoffOptions;
  random?: () => number;
  pingIntervalMs?: number;
  /** A socket that stays silent this long after a ping is considered dead. */
  pongTimeoutMs?: number;
  /** How long to wait for `ready` after opening. */
  readyTimeoutMs?: number;
  /** Listen to the browser's online/offline events (default: when a window exists). */
  watchNetwork?: boolean;
  onFrame?: (frame: ServerFrame) => void;
  onStateChange?: (state: ConnectionState) => void;
  /** The session cannot be refreshed any more: the user must sign in again. */
  onAuthFailed?: (err: unknown) => void;
}

const OPEN = 1;
const AUTH_ERROR_CODES = new Set(['token_expired', 'invalid_token', 'not_authenticated']);

export function defaultSocketUrl(loc: { protocol: string; host: string } = globalThis.location): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

export class ParleySocket {
  private ws: SocketLike | null = null;
  private generation = 0;
  private attempt = 0;
  private everOnline = false;
  private stopped = true;
  private paused = false;
  private forceRefresh = false;
  private authFailures = 0;
  private stateValue: ConnectionState = 'offline';
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readyTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private pingCounter = 0;
  private readonly createSocket: SocketFactory;
  private readonly backoffOpts: BackoffOptions;
  private readonly random: () => number;
  private readonly onBrowserOnline = () => this.resume();
  private readonly onBrowserOffline = () => this.pause();

  constructor(private readonly opts: ParleySocketOptions) {
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.backoffOpts = opts.backoff ?? DEFAULT_BACKOFF;
    this.random = opts.random ?? Math.random;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get isOnline(): boolean {
    return this.stateValue === 'online';
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    if (this.watchesNetwork()) {
      window.addEventListener('online', this.onBrowserOnline);
      window.addEventListener('offline', this.onBrowserOffline);
      if (navigator.onLine === false) {
        this.paused = true;
        this.setState('offline');
        return;
      }
    }
    this.setState('connecting');
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.paused = false;
    if (this.watchesNetwork()) {
      window.removeEventListener('online', this.onBrowserOnline);
      window.removeEventListener('offline', this.onBrowserOffline);
    }
    this.teardown();
    this.setState('offline');
  }

  /** Drops the connection and waits (no retries) until `resume()`. */
  pause(): void {
    if (this.stopped) return;
    this.paused = true;
    this.teardown();
    this.setState('offline');
  }

  /** Reconnects at once, forgetting the backoff. */
  resume(): void {
    if (this.stopped) return;
    this.paused = false;
    this.attempt = 0;
    this.teardown();
    this.setState(this.everOnline ? 'reconnecting' : 'connecting');
    void this.connect();
  }

  /** Sends a frame if the connection is ready; returns false otherwise. */
  send(frame: ClientFrame): boolean {
    if (this.stateValue !== 'online' || !this.ws || this.ws.readyState !== OPEN) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Asks the server again for everything after the current cursors. */
  sync(): boolean {
    return this.send({ type: 'sync', cursors: this.opts.getCursors() });
  }

  // ------------------------------------------------------------ internals

  private watchesNetwork(): boolean {
    return (this.opts.watchNetwork ?? typeof window !== 'undefined') && typeof window !== 'undefined';
  }

  private setState(next: ConnectionState): void {
    if (this.stateValue === next) return;
    this.stateValue = next;
    this.opts.onStateChange?.(next);
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    let token: string;
    try {
      token = await this.opts.getToken(this.forceRefresh);
    } catch (err) {
      if (gen !== this.generation || this.stopped) return;
      if (err instanceof ApiError && err.status === 401) {
        this.fail(err);
        return;
      }
      this.scheduleReconnect();
      return;
    }
    if (gen !== this.generation || this.stopped || this.paused) return;
    this.forceRefresh = false;

    let ws: SocketLike;
    try {
      ws = this.createSocket(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let ready = false;

    ws.onopen = () => {
      if (gen !== this.generation) return;
      ws.send(JSON.stringify({ type: 'auth', token }));
      this.readyTimer = setTimeout(() => {
        if (gen === this.generation) this.dropAndRetry();
      }, this.opts.readyTimeoutMs ?? 10_000);
    };

    ws.onmessage = (ev) => {
      if (gen !== this.generation) return;
      const frame = typeof ev.data === 'string' ? parseServerFrame(ev.data) : null;
      if (!frame) return;
      this.clearPongTimer();
      if (!ready) {
        if (frame.type === 'ready') {
          ready = true;
          this.onReady(frame);
          return;
        } else if (frame.type === 'error' && AUTH_ERROR_CODES.has(frame.code)) {
          this.authFailures += 1;
          if (this.authFailures > 2) {
            this.fail(new ApiError(401, frame.code, frame.message));
            return;
          }
          this.forceRefresh = true;
          this.dropAndRetry();
          return;
        } else if (frame.type === 'reconnect') {
          this.dropAndRetry(frame.afterMs);
          return;
        }
        this.opts.onFrame?.(frame);
        return;
      }
      if (frame.type === 'pong') return;
      if (frame.type === 'reconnect') {
        this.dropAndRetry(Math.max(0, frame.afterMs));
        return;
      }
      if (frame.type === 'error' && frame.code === 'token_expired' && frame.ref === undefined) {
        // The access token lapsed on a live connection: reconnect with a fresh one.
        this.forceRefresh = true;
        this.dropAndRetry(0);
        return;
      }
      this.opts.onFrame?.(frame);
    };

    ws.onclose = () => {
      if (gen !== this.generation) return;
      this.ws = null;
      this.clearTimers();
      if (this.stopped || this.paused) return;
      this.scheduleReconnect();
    };

    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  private onReady(frame: ServerFrame): void {
    if (this.readyTimer) clearTimeout(this.readyTimer);
    this.readyTimer = null;
    this.attempt = 0;
    this.authFailures = 0;
    this.everOnline = true;
    this.setState('online');
    this.sync();
    this.startPing();
    this.opts.onFrame?.(frame);
  }

  private startPing(): void {
    const interval = this.opts.pingIntervalMs ?? 25_000;
    const gen = this.generation;
    this.pingTimer = setInterval(() => {
      if (gen !== this.generation) return;
      this.pingCounter += 1;
      this.send({ type: 'ping', ref: `p${this.pingCounter}` });
      if (!this.pongTimer) {
        this.pongTimer = setTimeout(() => {
          if (gen === this.generation) this.dropAndRetry(0);
        }, this.opts.pongTimeoutMs ?? 10_000);
      }
    }, interval);
  }

  private clearPongTimer(): void {
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  private clearTimers(): void {
    if (this.readyTimer) clearTimeout(this.readyTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.readyTimer = null;
    this.pingTimer = null;
    this.clearPongTimer();
  }

  /** Closes the current socket without triggering its close handler. */
  private teardown(): void {
    this.generation += 1;
    this.clearTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, 'client closing');
      } catch {
        // already closed
      }
    }
  }

  private dropAndRetry(delayMs?: number): void {
    this.teardown();
    if (this.stopped || this.paused) return;
    this.scheduleReconnect(delayMs);
  }

  private scheduleReconnect(delayMs?: number): void {
    if (this.stopped || this.paused) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const delay = delayMs ?? backoffDelay(this.attempt, this.backoffOpts, this.random);
    if (delayMs === undefined) this.attempt += 1;
    this.setState(this.everOnline ? 'reconnecting' : 'connecting');
    const gen = ++this.generation;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (gen === this.generation && !this.stopped && !this.paused) void this.connect();
    }, delay);
  }

  private fail(err: unknown): void {
    this.stop();
    this.opts.onAuthFailed?.(err);
  }
}
