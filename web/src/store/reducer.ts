/**
 * The chat reducer: every change to ChatState, as a pure function of
 * (state, action). No timers, no I/O, no clock reads: time comes in actions.
 */
import type { ConnectionState } from '../sdk/socket';
import type {
  Conversation,
  Message,
  MessagePage,
  MessagesOfflineFrame,
  PresenceStatus,
  Reaction,
  Receipt,
  User,
  Uuid,
} from '../sdk/types';
import { coverUpTo, findSeq, markSeqs, mergeMessages, replaceById } from './seq';
import {
  initialChatState,
  type ChatState,
  type ConversationState,
  type PendingMessage,
  type PendingOp,
  type UserSummary,
} from './state';

/** Receivers expire a typing start after this long without a refresh. */
export const TYPING_TTL_MS = 3000;

export type ChatAction =
  | { type: 'session/set'; me: User | null }
  | { type: 'reset' }
  | { type: 'connection'; state: ConnectionState }
  | { type: 'sync/start' }
  | { type: 'sync/done' }
  | { type: 'conversations/loaded'; conversations: Conversation[] }
  | { type: 'conversation/upsert'; conversation: Conversation }
  | { type: 'conversation/remove'; id: Uuid }
  | { type: 'conversation/open'; id: Uuid | null }
  | { type: 'history/loading'; conversationId: Uuid; loading: boolean }
  | { type: 'history/page'; conversationId: Uuid; page: MessagePage }
  | { type: 'message/new'; message: Message }
  | { type: 'messages/offline'; frame: MessagesOfflineFrame }
  | { type: 'message/updated'; seq: number; message: Message }
  | { type: 'message/deleted'; seq: number; conversationId: Uuid; messageId: Uuid }
  | { type: 'send/pending'; message: PendingMessage }
  | { type: 'send/ack'; ref: Uuid }
  | { type: 'send/failed'; id: Uuid; code: string; message: string }
  | { type: 'send/retry'; id: Uuid }
  | { type: 'send/discard'; id: Uuid }
  | { type: 'op/apply'; op: PendingOp; me: Uuid; now: string }
  | { type: 'op/failed'; id: Uuid }
  | { type: 'receipt'; conversationId: Uuid; userId: Uuid; deliveredSeq: number; readSeq: number }
  | { type: 'receipts/loaded'; conversationId: Uuid; receipts: Receipt[] }
  | { type: 'typing'; conversationId: Uuid; userId: Uuid; state: 'start' | 'stop'; now: number }
  | { type: 'typing/expire'; now: number }
  | { type: 'presence'; userId: Uuid; status: PresenceStatus; lastSeen: string | null }
  | { type: 'users/add'; users: User[] }
  | { type: 'blocks/loaded'; users: User[] }
  | { type: 'block/set'; user: UserSummary; blocked: boolean }
  | { type: 'conversation/blocked'; id: Uuid; blocked: boolean }
  | { type: 'report/done'; messageId: Uuid; reportId: Uuid };

// ------------------------------------------------------------------ helpers

export function newConversationState(conversation: Conversation): ConversationState {
  return {
    conversation,
    messages: [],
    pending: [],
    cursor: conversation.lastSeq,
    ahead: [],
    historyLoaded: false,
    hasMoreBefore: conversation.lastSeq > 0,
    nextBefore: null,
    loadingBefore: false,
    receipts: {},
    typing: {},
  };
}

function usersFromConversation(users: Record<Uuid, UserSummary>, c: Conversation): Record<Uuid, UserSummary> {
  let out: Record<Uuid, UserSummary> | null = null;
  for (const m of c.members) {
    const prev = users[m.userId];
    if (prev && prev.displayName === m.displayName && prev.username === m.username) continue;
    out ??= { ...users };
    out[m.userId] = { id: m.userId, username: m.username, displayName: m.displayName, avatarUrl: prev?.avatarUrl ?? null };
  }
  return out ?? users;
}

/** The store's copy of a user; `avatarUrl` may be absent on the wire. */
function summary(u: User | UserSummary): UserSummary {
  return { id: u.id, username: u.username, displayName: u.displayName, avatarUrl: u.avatarUrl ?? null };
}

function withConversation(state: ChatState, id: Uuid, next: ConversationState): ChatState {
  return { ...state, conversations: { ...state.conversations, [id]: next } };
}

export function previewOf(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 119)}…` : flat;
}

function myReadSeq(cs: ConversationState, me: Uuid | undefined): number {
  return me ? (cs.receipts[me]?.readSeq ?? 0) : 0;
}

/** Raises lastSeq/lastMessage for newly seen messages. */
function bumpLast(conversation: Conversation, incoming: readonly Message[]): Conversation {
  let c = conversation;
  for (const m of incoming) {
    if (m.seq > c.lastSeq) c = { ...c, lastSeq: m.seq };
    if (!c.lastMessage || m.seq >= c.lastMessage.seq) {
      c = {
        ...c,
        lastMessage: {
          seq: m.seq,
          senderId: m.senderId,
          preview: m.deleted ? 'Message deleted' : previewOf(m.body),
          createdAt: m.createdAt,
        },
      };
    }
  }
  return c;
}

/**
 * Counts messages from others, above the read watermark, that are new to this
 * client. Seqs at or below the cursor are already part of the server's
 * unreadCount (or were counted when first seen).
 */
function countNewUnread(cs: ConversationState, incoming: readonly Message[], me: Uuid | undefined): number {
  const readSeq = myReadSeq(cs, me);
  let n = 0;
  for (const m of incoming) {
    if (m.senderId === me || m.deleted || m.seq <= readSeq || m.seq <= cs.cursor) continue;
    if (findSeq(cs.messages, m.seq) >= 0) continue;
    n++;
  }
  return n;
}

function applyReaction(reactions: Reaction[], emoji: string, userId: Uuid, add: boolean): Reaction[] {
  const idx = reactions.findIndex((r) => r.emoji === emoji);
  if (add) {
    if (idx >= 0) {
      const r = reactions[idx]!;
      if (r.userIds.includes(userId)) return reactions;
      const out = reactions.slice();
      out[idx] = { emoji, userIds: [...r.userIds, userId] };
      return out;
    }
    return [...reactions, { emoji, userIds: [userId] }];
  }
  if (idx < 0) return reactions;
  const r = reactions[idx]!;
  if (!r.userIds.includes(userId)) return reactions;
  const userIds = r.userIds.filter((u) => u !== userId);
  const out = reactions.slice();
  if (userIds.length === 0) out.splice(idx, 1);
  else out[idx] = { emoji, userIds };
  return out;
}

function updateMessage(
  state: ChatState,
  conversationId: Uuid,
  messageId: Uuid,
  update: (m: Message) => Message,
): ChatState {
  const cs = state.conversations[conversationId];
  if (!cs) return state;
  const messages = replaceById(cs.messages, messageId, update);
  if (!messages || messages === cs.messages) return state;
  return withConversation(state, conversationId, { ...cs, messages });
}

/** Recomputes the unread count after the own read watermark moved. */
function resetUnreadFromWatermark(cs: ConversationState, me: Uuid | undefined): ConversationState {
  const readSeq = myReadSeq(cs, me);
  const last = Math.max(cs.conversation.lastMessage?.seq ?? 0, cs.messages[cs.messages.length - 1]?.seq ?? 0);
  let unread: number;
  if (readSeq >= last) {
    unread = 0;
  } else {
    let counted = 0;
    const from = findSeq(cs.messages, readSeq + 1);
    for (let i = from >= 0 ? from : -from - 1; i < cs.messages.length; i++) {
      const m = cs.messages[i]!;
      if (m.senderId !== me && !m.deleted) counted++;
    }
    const first = cs.messages[0];
    const allLoaded = first !== undefined && first.seq <= readSeq + 1;
    // Without the whole unread range loaded, the server's count stays the better estimate.
    unread = allLoaded ? counted : Math.max(counted, Math.min(cs.conversation.unreadCount, last - readSeq));
  }
  if (unread === cs.conversation.unreadCount) return cs;
  return { ...cs, conversation: { ...cs.conversation, unreadCount: unread } };
}

// ------------------------------------------------------------------ reducer

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'session/set': {
      if (!action.me) return { ...initialChatState };
      const me = action.me;
      return {
        ...state,
        me,
        users: { ...state.users, [me.id]: summary(me) },
      };
    }
    case 'reset':
      return { ...initialChatState };

    case 'connection':
      return state.connection === action.state
        ? state
        : { ...state, connection: action.state, syncing: action.state === 'online' ? state.syncing : false };

    case 'sync/start':
      return { ...state, syncing: true };
    case 'sync/done':
      return { ...state, syncing: false };

    case 'conversations/loaded': {
      const conversations: Record<Uuid, ConversationState> = {};
      let users = state.users;
      for (const c of action.conversations) {
        const prev = state.conversations[c.id];
        conversations[c.id] = prev ? mergeConversationMeta(prev, c) : newConversationState(c);
        users = usersFromConversation(users, c);
      }
      // Keep conversations that only exist locally so far (just created, not yet listed).
      for (const [id, cs] of Object.entries(state.conversations)) {
        if (!conversations[id] && cs.pending.length > 0) conversations[id] = cs;
      }
      const activeId = state.activeId && conversations[state.activeId] ? state.activeId : null;
      return { ...state, conversations, users, activeId };
    }

    case 'conversation/upsert': {
      const c = action.conversation;
      const me = state.me?.id;
      if (me && c.members.length > 0 && !c.members.some((m) => m.userId === me)) {
        return chatReducer(state, { type: 'conversation/remove', id: c.id });
      }
      const prev = state.conversations[c.id];
      const next = prev ? mergeConversationMeta(prev, c) : newConversationState(c);
      return { ...withConversation(state, c.id, next), users: usersFromConversation(state.users, c) };
    }

    case 'conversation/remove': {
      if (!state.conversations[action.id]) return state;
      const conversations = { ...state.conversations };
      delete conversations[action.id];
      return { ...state, conversations, activeId: state.activeId === action.id ? null : state.activeId };
    }

    case 'conversation/open':
      return state.activeId === action.id ? state : { ...state, activeId: action.id };

    case 'history/loading': {
      const cs = state.conversations[action.conversationId];
      if (!cs || cs.loadingBefore === action.loading) return state;
      return withConversation(state, action.conversationId, { ...cs, loadingBefore: action.loading });
    }

    case 'history/page': {
      const cs = state.conversations[action.conversationId];
      if (!cs) return state;
      const incoming = action.page.messages.filter((m) => m.conversationId === action.conversationId || !m.conversationId);
      const messages = mergeMessages(cs.messages, incoming);
      const pendingIds = new Set(incoming.map((m) => m.id));
      const pending = cs.pending.some((p) => pendingIds.has(p.id)) ? cs.pending.filter((p) => !pendingIds.has(p.id)) : cs.pending;
      const oldest = messages[0]?.seq ?? null;
      const cur = markSeqs(cs, incoming.filter((m) => m.seq > cs.cursor).map((m) => m.seq));
      const next: ConversationState = {
        ...cs,
        ...cur,
        messages,
        pending,
        historyLoaded: true,
        hasMoreBefore: action.page.hasMore,
        nextBefore: action.page.nextCursor ?? oldest,
        loadingBefore: false,
        conversation: bumpLast(cs.conversation, incoming),
      };
      return withConversation(state, action.conversationId, next);
    }

    case 'message/new': {
      const m = action.message;
      const cs = state.conversations[m.conversationId];
      if (!cs) return state;
      const me = state.me?.id;
      const unreadAdd = countNewUnread(cs, [m], me);
      const pending = cs.pending.some((p) => p.id === m.id) ? cs.pending.filter((p) => p.id !== m.id) : cs.pending;
      let typing = cs.typing;
      if (typing[m.senderId] !== undefined) {
        typing = { ...typing };
        delete typing[m.senderId];
      }
      const conversation = bumpLast(cs.conversation, [m]);
      const next: ConversationState = {
        ...cs,
        ...markSeqs(cs, [m.seq]),
        messages: mergeMessages(cs.messages, [m]),
        pending,
        typing,
        conversation: unreadAdd ? { ...conversation, unreadCount: conversation.unreadCount + unreadAdd } : conversation,
      };
      return withConversation(state, m.conversationId, next);
    }

    case 'messages/offline': {
      const f = action.frame;
      const cs = state.conversations[f.conversationId];
      if (!cs) return state;
      const me = state.me?.id;
      const batch = f.messages ?? [];
      const updates = f.updates ?? [];
      const unreadAdd = countNewUnread(cs, batch, me);
      // Updates only replace messages we hold; messages in the batch are always taken.
      const heldUpdates = updates.filter((u) => findSeq(cs.messages, u.seq) >= 0);
      const messages = mergeMessages(cs.messages, [...heldUpdates, ...batch]);
      const ids = new Set(batch.map((m) => m.id));
      const pending = cs.pending.some((p) => ids.has(p.id)) ? cs.pending.filter((p) => !ids.has(p.id)) : cs.pending;
      const maxSeq = batch.reduce((acc, m) => Math.max(acc, m.seq), 0);
      // An update's message keeps its original seq; the batch's lastSeq covers the edit's own seq.
      let cur = markSeqs(cs, batch.map((m) => m.seq));
      cur = coverUpTo(cur, Math.max(f.lastSeq, maxSeq));
      const conversation = bumpLast(cs.conversation, batch);
      const lastUpdated = conversation.lastMessage
        ? updates.find((u) => u.seq === conversation.lastMessage!.seq)
        : undefined;
      let conv = unreadAdd ? { ...conversation, unreadCount: conversation.unreadCount + unreadAdd } : conversation;
      if (lastUpdated) conv = bumpLast(conv, [lastUpdated]);
      if (cur.cursor > conv.lastSeq) conv = { ...conv, lastSeq: cur.cursor };
      return withConversation(state, f.conversationId, { ...cs, ...cur, messages, pending, conversation: conv });
    }

    case 'message/updated': {
      const m = action.message;
      const cs = state.conversations[m.conversationId];
      if (!cs) return state;
      const idx = findSeq(cs.messages, m.seq);
      const messages = idx >= 0 ? mergeMessages(cs.messages, [m]) : cs.messages;
      let conversation = cs.conversation;
      if (conversation.lastMessage?.seq === m.seq) conversation = bumpLast(conversation, [m]);
      return withConversation(state, m.conversationId, {
        ...cs,
        ...markSeqs(cs, [action.seq]),
        messages,
        conversation,
      });
    }

    case 'message/deleted': {
      const cs = state.conversations[action.conversationId];
      if (!cs) return state;
      const messages =
        replaceById(cs.messages, action.messageId, (m) => (m.deleted ? m : { ...m, deleted: true, body: '', reactions: [] })) ??
        cs.messages;
      let conversation = cs.conversation;
      const deleted = messages.find((m) => m.id === action.messageId);
      if (deleted && conversation.lastMessage?.seq === deleted.seq) conversation = bumpLast(conversation, [deleted]);
      return withConversation(state, action.conversationId, {
        ...cs,
        ...markSeqs(cs, [action.seq]),
        messages,
        conversation,
      });
    }

    case 'send/pending': {
      const p = action.message;
      const cs = state.conversations[p.conversationId];
      if (!cs || cs.pending.some((x) => x.id === p.id)) return state;
      return withConversation(state, p.conversationId, { ...cs, pending: [...cs.pending, p] });
    }

    case 'send/ack': {
      if (state.ops[action.ref]) {
        const ops = { ...state.ops };
        delete ops[action.ref];
        return { ...state, ops };
      }
      return updatePending(state, action.ref, (p) => (p.status === 'sending' ? { ...p, status: 'accepted', error: null } : p));
    }

    case 'send/failed': {
      if (state.ops[action.id]) return chatReducer(state, { type: 'op/failed', id: action.id });
      return updatePending(state, action.id, (p) =>
        p.status === 'accepted' ? p : { ...p, status: 'failed', error: { code: action.code, message: action.message } },
      );
    }

    case 'send/retry':
      return updatePending(state, action.id, (p) =>
        p.status === 'failed' ? { ...p, status: 'sending', error: null, attempts: p.attempts + 1 } : p,
      );

    case 'send/discard': {
      for (const [cid, cs] of Object.entries(state.conversations)) {
        if (cs.pending.some((p) => p.id === action.id)) {
          return withConversation(state, cid, { ...cs, pending: cs.pending.filter((p) => p.id !== action.id) });
        }
      }
      return state;
    }

    case 'op/apply': {
      const op = action.op;
      const cs = state.conversations[op.conversationId];
      const target = cs?.messages.find((m) => m.id === op.messageId);
      if (!cs || !target) return state;
      const recorded: PendingOp = { ...op, prev: { body: target.body, editedAt: target.editedAt, deleted: target.deleted } };
      const next = updateMessage(state, op.conversationId, op.messageId, (m) => {
        switch (op.kind) {
          case 'edit':
            return { ...m, body: op.body ?? m.body, editedAt: action.now };
          case 'delete':
            return { ...m, deleted: true, body: '' };
          case 'reaction:add':
            return { ...m, reactions: applyReaction(m.reactions, op.emoji ?? '', action.me, true) };
          case 'reaction:remove':
            return { ...m, reactions: applyReaction(m.reactions, op.emoji ?? '', action.me, false) };
        }
      });
      return { ...next, ops: { ...next.ops, [op.id]: recorded } };
    }

    case 'op/failed': {
      const op = state.ops[action.id];
      if (!op) return state;
      const ops = { ...state.ops };
      delete ops[action.id];
      const me = state.me?.id ?? '';
      const rolled = updateMessage(state, op.conversationId, op.messageId, (m) => {
        switch (op.kind) {
          case 'edit':
            // Only undo if nothing newer replaced our optimistic text.
            return m.body === op.body && op.prev ? { ...m, body: op.prev.body, editedAt: op.prev.editedAt } : m;
          case 'delete':
            return m.deleted && op.prev && !op.prev.deleted ? { ...m, deleted: false, body: op.prev.body } : m;
          case 'reaction:add':
            return { ...m, reactions: applyReaction(m.reactions, op.emoji ?? '', me, false) };
          case 'reaction:remove':
            return { ...m, reactions: applyReaction(m.reactions, op.emoji ?? '', me, true) };
        }
      });
      return { ...rolled, ops };
    }

    case 'receipt': {
      const cs = state.conversations[action.conversationId];
      if (!cs) return state;
      const prev = cs.receipts[action.userId] ?? { deliveredSeq: 0, readSeq: 0 };
      const readSeq = Math.max(prev.readSeq, action.readSeq);
      const deliveredSeq = Math.max(prev.deliveredSeq, action.deliveredSeq, readSeq);
      if (readSeq === prev.readSeq && deliveredSeq === prev.deliveredSeq && cs.receipts[action.userId]) return state;
      let next: ConversationState = { ...cs, receipts: { ...cs.receipts, [action.userId]: { deliveredSeq, readSeq } } };
      if (action.userId === state.me?.id && readSeq > prev.readSeq) next = resetUnreadFromWatermark(next, state.me?.id);
      return withConversation(state, action.conversationId, next);
    }

    case 'receipts/loaded': {
      let s = state;
      for (const r of action.receipts) {
        s = chatReducer(s, { type: 'receipt', conversationId: action.conversationId, ...r });
      }
      return s;
    }

    case 'typing': {
      const cs = state.conversations[action.conversationId];
      if (!cs || action.userId === state.me?.id) return state;
      const typing = { ...cs.typing };
      if (action.state === 'start') typing[action.userId] = action.now + TYPING_TTL_MS;
      else if (typing[action.userId] !== undefined) delete typing[action.userId];
      else return state;
      return withConversation(state, action.conversationId, { ...cs, typing });
    }

    case 'typing/expire': {
      let conversations: Record<Uuid, ConversationState> | null = null;
      for (const [id, cs] of Object.entries(state.conversations)) {
        const expired = Object.entries(cs.typing).filter(([, until]) => until <= action.now);
        if (expired.length === 0) continue;
        const typing = { ...cs.typing };
        for (const [u] of expired) delete typing[u];
        conversations ??= { ...state.conversations };
        conversations[id] = { ...cs, typing };
      }
      return conversations ? { ...state, conversations } : state;
    }

    case 'presence': {
      const prev = state.presence[action.userId];
      if (prev && prev.status === action.status && prev.lastSeen === action.lastSeen) return state;
      return {
        ...state,
        presence: { ...state.presence, [action.userId]: { status: action.status, lastSeen: action.lastSeen } },
      };
    }

    case 'blocks/loaded': {
      const blocked: Record<Uuid, UserSummary> = {};
      for (const u of action.users) blocked[u.id] = summary(u);
      return chatReducer({ ...state, blocked }, { type: 'users/add', users: action.users });
    }

    case 'block/set': {
      const u = action.user;
      if (Boolean(state.blocked[u.id]) === action.blocked) return state;
      const blocked = { ...state.blocked };
      if (action.blocked) blocked[u.id] = summary(u);
      else delete blocked[u.id];
      let next: ChatState = { ...state, blocked };
      // Blocking closes the direct conversation at once; unblocking reopens it only when the
      // other person has not blocked us too, which the server's conversation update tells.
      const direct = Object.values(state.conversations).find(
        (cs) => cs.conversation.type === 'direct' && cs.conversation.members.some((m) => m.userId === u.id),
      );
      if (direct && action.blocked) next = chatReducer(next, { type: 'conversation/blocked', id: direct.conversation.id, blocked: true });
      return next;
    }

    case 'conversation/blocked': {
      const cs = state.conversations[action.id];
      if (!cs || Boolean(cs.conversation.blocked) === action.blocked) return state;
      return withConversation(state, action.id, { ...cs, conversation: { ...cs.conversation, blocked: action.blocked } });
    }

    case 'report/done':
      return state.reported[action.messageId] === action.reportId
        ? state
        : { ...state, reported: { ...state.reported, [action.messageId]: action.reportId } };

    case 'users/add': {
      if (action.users.length === 0) return state;
      const users = { ...state.users };
      for (const u of action.users) users[u.id] = summary(u);
      return { ...state, users };
    }
  }
}

function mergeConversationMeta(prev: ConversationState, c: Conversation): ConversationState {
  // Never move backwards on lastMessage: the live stream may be ahead of a REST snapshot.
  const keepLast = prev.conversation.lastMessage && (!c.lastMessage || c.lastMessage.seq < prev.conversation.lastMessage.seq);
  const conversation: Conversation = {
    ...c,
    lastSeq: Math.max(c.lastSeq, prev.conversation.lastSeq),
    lastMessage: keepLast ? prev.conversation.lastMessage : c.lastMessage,
  };
  // A conversation whose history was never opened can follow the server's head.
  const cur = prev.historyLoaded || prev.messages.length > 0 ? { cursor: prev.cursor, ahead: prev.ahead } : coverUpTo(prev, c.lastSeq);
  return { ...prev, ...cur, conversation, hasMoreBefore: prev.historyLoaded ? prev.hasMoreBefore : conversation.lastSeq > 0 };
}

function updatePending(state: ChatState, id: Uuid, update: (p: PendingMessage) => PendingMessage): ChatState {
  for (const [cid, cs] of Object.entries(state.conversations)) {
    const idx = cs.pending.findIndex((p) => p.id === id);
    if (idx < 0) continue;
    const next = update(cs.pending[idx]!);
    if (next === cs.pending[idx]) return state;
    const pending = cs.pending.slice();
    pending[idx] = next;
    return withConversation(state, cid, { ...cs, pending });
  }
  return state;
}
