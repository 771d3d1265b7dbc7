/**
 * ChatController: the side-effect half of the client. It owns the WebSocket,
 * calls REST, runs the timers (ack timeouts, typing expiry, receipt batching,
 * gap syncs) and turns everything into reducer actions on one store.
 * React components only read the store and call these methods.
 */
import { ApiError, type RestClient } from '../sdk/rest';
import { defaultSocketUrl, ParleySocket, type ParleySocketOptions, type SocketFactory } from '../sdk/socket';
import type {
  ClientFrame,
  CommandFrame,
  Conversation,
  Message,
  MessageSendFrame,
  PresenceSetStatus,
  ServerFrame,
  UpdateMeRequest,
  User,
  Uuid,
} from '../sdk/types';
import { uuidv7 } from '../sdk/uuidv7';
import { chatReducer, previewOf, TYPING_TTL_MS, type ChatAction } from './reducer';
import { myReadSeq } from './selectors';
import { initialChatState, type ChatState, type OpKind, type PendingMessage } from './state';
import { createStore, type Store } from './store';

export interface ChatControllerOptions {
  api: RestClient;
  socketUrl?: string;
  createSocket?: SocketFactory;
  socketOptions?: Partial<ParleySocketOptions>;
  now?: () => number;
  newId?: () => string;
  /** A command without ack after this long is marked failed. */
  ackTimeoutMs?: number;
  /** At most one typing:start per this interval while typing. */
  typingThrottleMs?: number;
  /** message:delivered frames are coalesced over this window. */
  deliveredDelayMs?: number;
  /** Wait this long for out-of-order frames before asking the server to fill a gap. */
  gapSyncDelayMs?: number;
  /** Called when the session ended (refresh token rejected). */
  onSessionEnded?: () => void;
}

export interface SendOptions {
  replyTo?: Message | null;
  mentions?: Uuid[];
}

export type IncomingListener = (message: Message) => void;

const PRESENCE_KEY = 'parley.presence';

export class ChatController {
  readonly store: Store<ChatState, ChatAction>;
  readonly socket: ParleySocket;
  private readonly api: RestClient;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly ackTimeoutMs: number;
  private readonly typingThrottleMs: number;
  private readonly deliveredDelayMs: number;
  private readonly gapSyncDelayMs: number;
  private readonly ackTimers = new Map<Uuid, ReturnType<typeof setTimeout>>();
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly typingSentAt = new Map<Uuid, number>();
  private readonly deliveredPending = new Map<Uuid, number>();
  private readonly deliveredSent = new Map<Uuid, number>();
  private readonly readSent = new Map<Uuid, number>();
  private readonly fetchingConversations = new Map<Uuid, Promise<void>>();
  private readonly incomingListeners = new Set<IncomingListener>();
  private readonly presenceAsked = new Set<Uuid>();
  private deliveredTimer: ReturnType<typeof setTimeout> | null = null;
  private gapTimer: ReturnType<typeof setTimeout> | null = null;
  private listLoaded = false;
  private running = false;

  constructor(private readonly opts: ChatControllerOptions) {
    this.api = opts.api;
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? uuidv7;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.typingThrottleMs = opts.typingThrottleMs ?? 2_000;
    this.deliveredDelayMs = opts.deliveredDelayMs ?? 250;
    this.gapSyncDelayMs = opts.gapSyncDelayMs ?? 500;
    this.store = createStore(chatReducer, initialChatState);
    this.socket = new ParleySocket({
      url: opts.socketUrl ?? defaultSocketUrl(),
      getToken: (force) => this.api.getAccessToken(force),
      getCursors: () => this.cursors(),
      createSocket: opts.createSocket,
      onFrame: (f) => this.handleFrame(f),
      onStateChange: (s) => this.dispatch({ type: 'connection', state: s }),
      onAuthFailed: () => this.opts.onSessionEnded?.(),
      ...opts.socketOptions,
    });
  }

  get state(): ChatState {
    return this.store.getState();
  }

  private dispatch(a: ChatAction): void {
    this.store.dispatch(a);
    if (a.type.startsWith('send/') || a.type === 'message/new' || a.type === 'messages/offline' || a.type === 'history/page') {
      this.saveOutbox();
    }
  }

  // ------------------------------------------------------------ outbox (survives reloads)

  private lastOutbox = '';

  private outboxKey(): string | null {
    const me = this.meId;
    return me ? `parley.outbox.${me}` : null;
  }

  /** Unacknowledged own messages, kept in localStorage so a reload does not lose them. */
  private saveOutbox(): void {
    const key = this.outboxKey();
    if (!key) return;
    const items: PendingMessage[] = [];
    for (const cs of Object.values(this.state.conversations)) {
      for (const p of cs.pending) if (p.status !== 'accepted') items.push(p);
    }
    const json = JSON.stringify(items);
    if (json === this.lastOutbox) return;
    this.lastOutbox = json;
    try {
      if (items.length) globalThis.localStorage?.setItem(key, json);
      else globalThis.localStorage?.removeItem(key);
    } catch {
      // storage full or unavailable: the outbox stays in memory only
    }
  }

  private restoreOutbox(): void {
    const key = this.outboxKey();
    if (!key) return;
    let items: PendingMessage[] = [];
    try {
      items = JSON.parse(globalThis.localStorage?.getItem(key) ?? '[]') as PendingMessage[];
    } catch {
      return;
    }
    for (const p of Array.isArray(items) ? items : []) {
      if (!p || typeof p.id !== 'string' || !this.state.conversations[p.conversationId]) continue;
      // failed ones stay failed (the user decides); the rest go out on the next ready
      this.dispatch({ type: 'send/pending', message: { ...p, status: p.status === 'failed' ? 'failed' : 'sending' } });
    }
  }

  private get meId(): Uuid | undefined {
    return this.state.me?.id;
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const session = this.api.getSession();
    if (session) this.dispatch({ type: 'session/set', me: session.user });
    await this.loadConversations();
    if (!this.running) return;
    this.restoreOutbox();
    this.socket.start();
    this.api.me().then(
      (me) => this.dispatch({ type: 'session/set', me }),
      () => undefined,
    );
    void this.loadBlocks();
  }

  /** Fetches the list of users this user has blocked. */
  async loadBlocks(): Promise<void> {
    try {
      this.dispatch({ type: 'blocks/loaded', users: await this.api.listBlocks() });
    } catch {
      // Without the list a blocked chat still shows as blocked (the server flags it).
    }
  }

  stop(): void {
    this.running = false;
    this.socket.stop();
    for (const t of this.ackTimers.values()) clearTimeout(t);
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.ackTimers.clear();
    this.typingTimers.clear();
    if (this.deliveredTimer) clearTimeout(this.deliveredTimer);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.deliveredTimer = null;
    this.gapTimer = null;
  }

  /** Signs out: closes the socket, revokes the refresh token, clears the state. */
  async logout(): Promise<void> {
    this.stop();
    await this.api.logout();
    this.dispatch({ type: 'reset' });
  }

  private async loadConversations(): Promise<void> {
    try {
      const list = await this.api.listConversations();
      this.dispatch({ type: 'conversations/loaded', conversations: list });
      this.listLoaded = true;
    } catch (err) {
      // Offline at start: the socket's sync lists conversations as conversation:updated.
      if (err instanceof ApiError && err.status === 401) throw err;
    }
  }

  /** Cursor per known conversation, for `sync`. */
  cursors(): Record<Uuid, number> {
    const out: Record<Uuid, number> = {};
    for (const [id, cs] of Object.entries(this.state.conversations)) out[id] = cs.cursor;
    return out;
  }

  onIncoming(listener: IncomingListener): () => void {
    this.incomingListeners.add(listener);
    return () => this.incomingListeners.delete(listener);
  }

  // ------------------------------------------------------------ inbound frames

  handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ready':
        this.onReady();
        return;
      case 'ack':
        this.clearAckTimer(frame.ref);
        this.dispatch({ type: 'send/ack', ref: frame.ref });
        return;
      case 'error':
        if (frame.ref) {
          this.clearAckTimer(frame.ref);
          if (frame.code === 'blocked') {
            const conversationId = this.findPending(frame.ref)?.conversationId ?? this.state.ops[frame.ref]?.conversationId;
            if (conversationId) this.dispatch({ type: 'conversation/blocked', id: conversationId, blocked: true });
          }
          this.dispatch({ type: 'send/failed', id: frame.ref, code: frame.code, message: frame.message });
        }
        return;
      case 'message:new':
        this.withConversation(frame.message.conversationId, () => this.onMessageNew(frame.message));
        return;
      case 'messages:offline':
        this.withConversation(frame.conversationId, () => {
          this.dispatch({ type: 'messages/offline', frame });
          const me = this.meId;
          const fromOthers = frame.messages.filter((m) => m.senderId !== me);
          const top = fromOthers.reduce((acc, m) => Math.max(acc, m.seq), 0);
          if (top > 0) this.scheduleDelivered(frame.conversationId, top);
          for (const m of fromOthers) this.clearTyping(m.conversationId, m.senderId);
        });
        return;
      case 'conversation:updated':
        this.dispatch({ type: 'conversation/upsert', conversation: frame.conversation });
        return;
      case 'conversation:removed':
        this.dispatch({ type: 'conversation/remove', id: frame.conversationId });
        return;
      case 'sync:done':
        this.dispatch({ type: 'sync/done' });
        return;
      case 'message:updated':
        this.dispatch({ type: 'message/updated', seq: frame.seq, message: frame.message });
        this.checkGap(frame.message.conversationId);
        return;
      case 'message:deleted':
        this.dispatch({ type: 'message/deleted', seq: frame.seq, conversationId: frame.conversationId, messageId: frame.messageId });
        this.checkGap(frame.conversationId);
        return;
      case 'message:status':
        this.dispatch({
          type: 'receipt',
          conversationId: frame.conversationId,
          userId: frame.userId,
          deliveredSeq: frame.deliveredSeq,
          readSeq: frame.readSeq,
        });
        return;
      case 'typing':
        this.onTyping(frame.conversationId, frame.userId, frame.state);
        return;
      case 'presence':
        this.dispatch({ type: 'presence', userId: frame.userId, status: frame.status, lastSeen: frame.lastSeen ?? null });
        return;
      case 'pong':
      case 'reconnect':
        return;
    }
  }

  private onReady(): void {
    this.dispatch({ type: 'sync/start' });
    if (!this.listLoaded) void this.loadConversations();
    // Everything still marked "sending" goes out again with the same id.
    for (const cs of Object.values(this.state.conversations)) {
      for (const p of cs.pending) if (p.status === 'sending') this.transmit(p);
    }
    const presence = readPresence();
    if (presence && presence !== 'online') this.socket.send({ type: 'presence:set', status: presence });
  }

  private onMessageNew(m: Message): void {
    this.clearAckTimer(m.id);
    const known = this.state.conversations[m.conversationId]?.messages;
    const fresh = !known || known[known.length - 1]?.seq !== m.seq;
    this.dispatch({ type: 'message/new', message: m });
    this.clearTyping(m.conversationId, m.senderId);
    if (m.senderId !== this.meId) {
      this.scheduleDelivered(m.conversationId, m.seq);
      if (fresh) for (const l of this.incomingListeners) l(m);
    }
    this.checkGap(m.conversationId);
  }

  /** Runs `fn` once the conversation is known, fetching it first if needed. */
  private withConversation(id: Uuid, fn: () => void): void {
    if (this.state.conversations[id]) {
      fn();
      return;
    }
    let p = this.fetchingConversations.get(id);
    if (!p) {
      p = this.api
        .getConversation(id)
        .then((c) => this.dispatch({ type: 'conversation/upsert', conversation: c }))
        .catch(() => undefined)
        .finally(() => this.fetchingConversations.delete(id));
      this.fetchingConversations.set(id, p);
    }
    void p.then(() => {
      if (this.state.conversations[id]) fn();
    });
  }

  private checkGap(conversationId: Uuid): void {
    const cs = this.state.conversations[conversationId];
    if (!cs || cs.ahead.length === 0 || this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      const still = Object.values(this.state.conversations).some((c) => c.ahead.length > 0);
      if (still && !this.state.syncing && this.socket.sync()) this.dispatch({ type: 'sync/start' });
    }, this.gapSyncDelayMs);
  }

  // ------------------------------------------------------------ typing

  private onTyping(conversationId: Uuid, userId: Uuid, state: 'start' | 'stop'): void {
    this.dispatch({ type: 'typing', conversationId, userId, state, now: this.now() });
    const key = `${conversationId}/${userId}`;
    const t = this.typingTimers.get(key);
    if (t) clearTimeout(t);
    this.typingTimers.delete(key);
    if (state === 'start') {
      this.typingTimers.set(
        key,
        setTimeout(() => {
          this.typingTimers.delete(key);
          this.dispatch({ type: 'typing/expire', now: this.now() });
        }, TYPING_TTL_MS),
      );
    }
  }

  private clearTyping(conversationId: Uuid, userId: Uuid): void {
    const key = `${conversationId}/${userId}`;
    const t = this.typingTimers.get(key);
    if (t) {
      clearTimeout(t);
      this.typingTimers.delete(key);
    }
  }

  /** Call on every keystroke in the composer; sends at most one typing:start per throttle window. */
  typingInput(conversationId: Uuid): void {
    const last = this.typingSentAt.get(conversationId);
    const now = this.now();
    if (last !== undefined && now - last < this.typingThrottleMs) return;
    if (this.socket.send({ type: 'typing:start', conversationId })) this.typingSentAt.set(conversationId, now);
  }

  /** Call on send and blur. */
  typingStop(conversationId: Uuid): void {
    if (!this.typingSentAt.has(conversationId)) return;
    this.typingSentAt.delete(conversationId);
    this.socket.send({ type: 'typing:stop', conversationId });
  }

  // ------------------------------------------------------------ receipts

  private scheduleDelivered(conversationId: Uuid, seq: number): void {
    const cur = Math.max(this.deliveredPending.get(conversationId) ?? 0, seq);
    this.deliveredPending.set(conversationId, cur);
    if (this.deliveredTimer) return;
    this.deliveredTimer = setTimeout(() => this.flushDelivered(), this.deliveredDelayMs);
  }

  private flushDelivered(): void {
    this.deliveredTimer = null;
    for (const [conversationId, seq] of this.deliveredPending) {
      if (seq <= (this.deliveredSent.get(conversationId) ?? 0)) continue;
      if (this.socket.send({ type: 'message:delivered', conversationId, seq })) this.deliveredSent.set(conversationId, seq);
    }
    this.deliveredPending.clear();
  }

  /** Marks everything up to `seq` as read (called by the view for the latest visible message). */
  markRead(conversationId: Uuid, seq: number): void {
    const cs = this.state.conversations[conversationId];
    const me = this.meId;
    if (!cs || !me || seq <= 0) return;
    if (seq <= Math.max(myReadSeq(cs, me), this.readSent.get(conversationId) ?? 0)) return;
    this.readSent.set(conversationId, seq);
    const mine = cs.receipts[me] ?? { deliveredSeq: 0, readSeq: 0 };
    this.dispatch({ type: 'receipt', conversationId, userId: me, deliveredSeq: Math.max(mine.deliveredSeq, seq), readSeq: seq });
    if (!this.socket.send({ type: 'message:read', conversationId, seq })) {
      this.api.markRead(conversationId, seq).catch(() => this.readSent.delete(conversationId));
    }
  }

  /**
   * The socket pushes contacts' presence on connect and on change; a direct chat with someone
   * not heard of yet (no shared conversation when the socket connected) asks REST once.
   */
  private async refreshPeerPresence(conversationId: Uuid): Promise<void> {
    const cs = this.state.conversations[conversationId];
    const me = this.meId;
    if (!cs || cs.conversation.type !== 'direct' || !me) return;
    const peer = cs.conversation.members.find((m) => m.userId !== me)?.userId;
    if (!peer || this.state.presence[peer] || this.presenceAsked.has(peer)) return;
    this.presenceAsked.add(peer);
    try {
      const user = await this.api.getUser(peer);
      if (user.presence && !this.state.presence[peer]) {
        this.dispatch({ type: 'presence', userId: peer, status: user.presence.status, lastSeen: user.presence.lastSeen ?? null });
      }
    } catch {
      this.presenceAsked.delete(peer);
    }
  }

  // ------------------------------------------------------------ history

  /** Makes a conversation active and loads its newest page and receipts once. */
  async openConversation(id: Uuid | null): Promise<void> {
    this.dispatch({ type: 'conversation/open', id });
    if (!id) return;
    const cs = this.state.conversations[id];
    if (cs) void this.refreshPeerPresence(id);
    if (!cs || cs.historyLoaded || cs.loadingBefore) return;
    this.dispatch({ type: 'history/loading', conversationId: id, loading: true });
    const [page, receipts] = await Promise.allSettled([this.api.listMessages(id, { limit: 50 }), this.api.receipts(id)]);
    if (receipts.status === 'fulfilled') this.dispatch({ type: 'receipts/loaded', conversationId: id, receipts: receipts.value });
    if (page.status === 'fulfilled') this.dispatch({ type: 'history/page', conversationId: id, page: page.value });
    else this.dispatch({ type: 'history/loading', conversationId: id, loading: false });
  }

  /** Loads the page before the oldest loaded message. Resolves to the number of messages added. */
  async loadOlder(id: Uuid): Promise<number> {
    const cs = this.state.conversations[id];
    if (!cs || cs.loadingBefore || !cs.hasMoreBefore) return 0;
    if (!cs.historyLoaded) {
      await this.openConversation(id);
      return this.state.conversations[id]?.messages.length ?? 0;
    }
    const before = cs.nextBefore ?? cs.messages[0]?.seq;
    if (before === undefined || before <= 1) {
      this.dispatch({ type: 'history/page', conversationId: id, page: { messages: [], nextCursor: null, hasMore: false } });
      return 0;
    }
    const had = cs.messages.length;
    this.dispatch({ type: 'history/loading', conversationId: id, loading: true });
    try {
      const page = await this.api.listMessages(id, { before, limit: 50 });
      this.dispatch({ type: 'history/page', conversationId: id, page });
    } catch {
      this.dispatch({ type: 'history/loading', conversationId: id, loading: false });
    }
    return (this.state.conversations[id]?.messages.length ?? had) - had;
  }

  // ------------------------------------------------------------ sending

  /** Optimistic send: the message shows at once as "sending" with its final id. */
  send(conversationId: Uuid, body: string, o: SendOptions = {}): Uuid | null {
    const me = this.meId;
    const text = body.trim();
    if (!me || !text) return null;
    const id = this.newId();
    const p: PendingMessage = {
      id,
      conversationId,
      senderId: me,
      body: text,
      createdAt: new Date(this.now()).toISOString(),
      replyTo: o.replyTo ? { id: o.replyTo.id, senderId: o.replyTo.senderId, preview: previewOf(o.replyTo.body) } : null,
      forwardedFrom: null,
      forwardFrom: null,
      mentions: o.mentions ?? [],
      status: 'sending',
      error: null,
      attempts: 1,
    };
    this.dispatch({ type: 'send/pending', message: p });
    this.typingStop(conversationId);
    this.transmit(p);
    return id;
  }

  /** Forwards a message into another conversation (the server copies the body). */
  forward(targetConversationId: Uuid, message: Message): Uuid | null {
    const me = this.meId;
    if (!me) return null;
    const id = this.newId();
    const p: PendingMessage = {
      id,
      conversationId: targetConversationId,
      senderId: me,
      body: message.body,
      createdAt: new Date(this.now()).toISOString(),
      replyTo: null,
      forwardedFrom: { conversationId: message.conversationId, messageId: message.id, senderId: message.senderId },
      forwardFrom: { conversationId: message.conversationId, messageId: message.id },
      mentions: [],
      status: 'sending',
      error: null,
      attempts: 1,
    };
    this.dispatch({ type: 'send/pending', message: p });
    this.transmit(p);
    return id;
  }

  private transmit(p: PendingMessage): void {
    const frame: MessageSendFrame = { type: 'message:send', id: p.id, conversationId: p.conversationId, body: p.body };
    if (p.replyTo) frame.replyTo = p.replyTo.id;
    if (p.mentions.length) frame.mentions = p.mentions;
    if (p.forwardFrom) frame.forwardFrom = p.forwardFrom;
    // Offline: stays "sending" and goes out on the next ready.
    if (this.socket.send(frame)) this.armAckTimer(p.id);
  }

  /** Sends a failed message again with the same id (the server dedupes). */
  retry(id: Uuid): void {
    this.dispatch({ type: 'send/retry', id });
    const p = this.findPending(id);
    if (p && p.status === 'sending') this.transmit(p);
  }

  /** Drops a failed message from the outbox. */
  discard(id: Uuid): void {
    this.clearAckTimer(id);
    this.dispatch({ type: 'send/discard', id });
  }

  private findPending(id: Uuid): PendingMessage | undefined {
    for (const cs of Object.values(this.state.conversations)) {
      const p = cs.pending.find((x) => x.id === id);
      if (p) return p;
    }
    return undefined;
  }

  private armAckTimer(id: Uuid): void {
    this.clearAckTimer(id);
    this.ackTimers.set(
      id,
      setTimeout(() => {
        this.ackTimers.delete(id);
        this.dispatch({ type: 'send/failed', id, code: 'timeout', message: 'No answer from the server' });
      }, this.ackTimeoutMs),
    );
  }

  private clearAckTimer(id: Uuid): void {
    const t = this.ackTimers.get(id);
    if (t) clearTimeout(t);
    this.ackTimers.delete(id);
  }

  // ------------------------------------------------------------ edits, deletes, reactions

  private runOp(kind: OpKind, conversationId: Uuid, messageId: Uuid, extra: { body?: string; emoji?: string }): boolean {
    const me = this.meId;
    if (!me) return false;
    const id = this.newId();
    this.dispatch({
      type: 'op/apply',
      op: { id, kind, conversationId, messageId, ...extra },
      me,
      now: new Date(this.now()).toISOString(),
    });
    let frame: CommandFrame;
    switch (kind) {
      case 'edit':
        frame = { type: 'message:edit', id, conversationId, messageId, body: extra.body ?? '' };
        break;
      case 'delete':
        frame = { type: 'message:delete', id, conversationId, messageId };
        break;
      default:
        frame = { type: kind, id, conversationId, messageId, emoji: extra.emoji ?? '' };
    }
    if (!this.socket.send(frame as ClientFrame)) {
      this.dispatch({ type: 'op/failed', id });
      return false;
    }
    this.armAckTimer(id);
    return true;
  }

  edit(conversationId: Uuid, messageId: Uuid, body: string): boolean {
    const text = body.trim();
    if (!text) return false;
    return this.runOp('edit', conversationId, messageId, { body: text });
  }

  deleteMessage(conversationId: Uuid, messageId: Uuid): boolean {
    return this.runOp('delete', conversationId, messageId, {});
  }

  /** Adds the reaction, or removes it when the user already reacted with this emoji. */
  toggleReaction(conversationId: Uuid, messageId: Uuid, emoji: string): boolean {
    const me = this.meId;
    const m = this.state.conversations[conversationId]?.messages.find((x) => x.id === messageId);
    if (!me || !m) return false;
    const mine = m.reactions.some((r) => r.emoji === emoji && r.userIds.includes(me));
    return this.runOp(mine ? 'reaction:remove' : 'reaction:add', conversationId, messageId, { emoji });
  }

  // ------------------------------------------------------------ people & conversations

  async searchUsers(q: string): Promise<User[]> {
    const users = await this.api.searchUsers(q);
    this.dispatch({ type: 'users/add', users });
    return users.filter((u) => u.id !== this.meId);
  }

  private upsert(c: Conversation): Conversation {
    this.dispatch({ type: 'conversation/upsert', conversation: c });
    return c;
  }

  async createDirect(userId: Uuid): Promise<Conversation> {
    return this.upsert(await this.api.createConversation({ type: 'direct', memberIds: [userId] }));
  }

  async createGroup(name: string, memberIds: Uuid[]): Promise<Conversation> {
    return this.upsert(await this.api.createConversation({ type: 'group', memberIds, name: name.trim() || undefined }));
  }

  async renameGroup(id: Uuid, name: string): Promise<Conversation> {
    return this.upsert(await this.api.renameConversation(id, name));
  }

  async addMembers(id: Uuid, userIds: Uuid[]): Promise<Conversation> {
    return this.upsert(await this.api.addMembers(id, userIds));
  }

  async removeMember(id: Uuid, userId: Uuid): Promise<void> {
    const c = await this.api.removeMember(id, userId);
    if (userId === this.meId) this.dispatch({ type: 'conversation/remove', id });
    else this.upsert(c);
  }

  async leave(id: Uuid): Promise<void> {
    const me = this.meId;
    if (me) await this.removeMember(id, me);
  }

  async updateProfile(patch: UpdateMeRequest): Promise<User> {
    const user = await this.api.updateMe(patch);
    const merged = this.api.getSession()?.user ?? user;
    this.dispatch({ type: 'session/set', me: merged });
    return merged;
  }

  /** Blocks a user: nobody can send in the direct chat with them any more. */
  async blockUser(userId: Uuid): Promise<void> {
    // Optimistic: the server pushes the chat's `blocked` flag, possibly before this call
    // returns, and the blocker must then already be known as the one who blocked.
    const direct = this.directWith(userId);
    const wasBlocked = Boolean(direct?.conversation.blocked);
    this.dispatch({ type: 'block/set', user: this.userSummary(userId), blocked: true });
    try {
      await this.api.blockUser(userId);
    } catch (err) {
      this.dispatch({ type: 'block/set', user: this.userSummary(userId), blocked: false });
      if (direct) this.dispatch({ type: 'conversation/blocked', id: direct.conversation.id, blocked: wasBlocked });
      throw err;
    }
    await this.refreshDirectWith(userId);
  }

  /** Lifts a block; the direct chat reopens unless the other person blocked this user too. */
  async unblockUser(userId: Uuid): Promise<void> {
    await this.api.unblockUser(userId);
    this.dispatch({ type: 'block/set', user: this.userSummary(userId), blocked: false });
    await this.refreshDirectWith(userId);
  }

  private userSummary(userId: Uuid) {
    return this.state.users[userId] ?? this.state.blocked[userId] ?? { id: userId, username: '', displayName: '', avatarUrl: null };
  }

  /** Re-reads the direct conversation with a user (its `blocked` flag changed). */
  private directWith(userId: Uuid) {
    return Object.values(this.state.conversations).find(
      (x) => x.conversation.type === 'direct' && x.conversation.members.some((m) => m.userId === userId),
    );
  }

  private async refreshDirectWith(userId: Uuid): Promise<void> {
    const cs = this.directWith(userId);
    if (!cs) return;
    try {
      this.dispatch({ type: 'conversation/upsert', conversation: await this.api.getConversation(cs.conversation.id) });
    } catch {
      // the server's conversation:updated brings the same news
    }
  }

  /** Reports a message to the moderators; resolves to the report's id. */
  async reportMessage(conversationId: Uuid, messageId: Uuid, reason: string): Promise<Uuid> {
    const { id } = await this.api.reportMessage(conversationId, messageId, reason);
    this.dispatch({ type: 'report/done', messageId, reportId: id });
    return id;
  }

  setPresence(status: PresenceSetStatus): void {
    try {
      globalThis.localStorage?.setItem(PRESENCE_KEY, status);
    } catch {
      // not persisted; still applied to this connection
    }
    this.socket.send({ type: 'presence:set', status });
  }
}

export function readPresence(): PresenceSetStatus | null {
  try {
    const v = globalThis.localStorage?.getItem(PRESENCE_KEY);
    return v === 'online' || v === 'away' || v === 'busy' || v === 'invisible' ? v : null;
  } catch {
    return null;
  }
}
