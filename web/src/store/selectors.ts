/**
 * Derived views of ChatState: ticks, receipt summaries, typing, titles,
 * ordering. Pure functions; components memoize them.
 */
import type { Conversation, Message, Uuid } from '../sdk/types';
import type { ChatState, ConversationState, PendingMessage, UserSummary } from './state';

export type Tick = 'sending' | 'failed' | 'accepted' | 'sent' | 'delivered' | 'read';

export type ListMessage = (Message & { pendingStatus?: undefined }) | PendingListMessage;
export type PendingListMessage = PendingMessage & { pendingStatus: PendingMessage['status']; seq?: undefined };

export function isPending(m: ListMessage): m is PendingListMessage {
  return m.pendingStatus !== undefined;
}

/** Sequenced messages followed by own pending ones. */
export function listMessages(cs: ConversationState): ListMessage[] {
  if (cs.pending.length === 0) return cs.messages;
  return [...cs.messages, ...cs.pending.map((p) => ({ ...p, pendingStatus: p.status }))];
}

export interface ReceiptSummary {
  /** Members other than the sender. */
  total: number;
  deliveredTo: Uuid[];
  readBy: Uuid[];
}

/** Who among the other members has received / read the message with this seq. */
export function receiptSummary(cs: ConversationState, seq: number, senderId: Uuid): ReceiptSummary {
  const others = cs.conversation.members.filter((m) => m.userId !== senderId);
  const deliveredTo: Uuid[] = [];
  const readBy: Uuid[] = [];
  for (const m of others) {
    const w = cs.receipts[m.userId];
    if (!w) continue;
    if (w.readSeq >= seq) readBy.push(m.userId);
    if (Math.max(w.deliveredSeq, w.readSeq) >= seq) deliveredTo.push(m.userId);
  }
  return { total: others.length, deliveredTo, readBy };
}

/**
 * Tick state of an own message: sending → accepted → sent ✓ → delivered ✓✓ →
 * read ✓✓ (blue). In groups, delivered/read need every other member.
 */
export function messageTick(cs: ConversationState, m: ListMessage): Tick {
  if (isPending(m)) return m.pendingStatus === 'failed' ? 'failed' : m.pendingStatus;
  const r = receiptSummary(cs, m.seq, m.senderId);
  if (r.total === 0) return 'sent';
  if (r.readBy.length === r.total) return 'read';
  if (r.deliveredTo.length === r.total) return 'delivered';
  return 'sent';
}

export function displayName(state: Pick<ChatState, 'users'>, userId: Uuid): string {
  return state.users[userId]?.displayName || state.users[userId]?.username || 'Unknown';
}

/** The other member of a direct conversation. */
export function directPeer(c: Conversation, me: Uuid | undefined): Uuid | null {
  if (c.type !== 'direct') return null;
  return c.members.find((m) => m.userId !== me)?.userId ?? null;
}

export function conversationTitle(c: Conversation, me: Uuid | undefined, users: Record<Uuid, UserSummary> = {}): string {
  if (c.type === 'direct') {
    const peer = c.members.find((m) => m.userId !== me);
    if (!peer) return 'Saved messages';
    return users[peer.userId]?.displayName || peer.displayName || peer.username;
  }
  if (c.name) return c.name;
  const names = c.members.filter((m) => m.userId !== me).map((m) => m.displayName || m.username);
  return names.length ? names.join(', ') : 'Group';
}

/** Last activity timestamp used to sort the conversation list. */
export function lastActivity(cs: ConversationState): string {
  const lastPending = cs.pending[cs.pending.length - 1]?.createdAt;
  const last = cs.conversation.lastMessage?.createdAt ?? cs.conversation.createdAt;
  return lastPending && lastPending > last ? lastPending : last;
}

export function sortedConversations(state: Pick<ChatState, 'conversations'>): ConversationState[] {
  return Object.values(state.conversations).sort((a, b) => {
    const x = lastActivity(a);
    const y = lastActivity(b);
    if (x !== y) return x < y ? 1 : -1;
    return a.conversation.id < b.conversation.id ? -1 : 1;
  });
}

/** Members currently typing (indicator not expired at `now`). */
export function typingUsers(cs: ConversationState, now: number): Uuid[] {
  return Object.entries(cs.typing)
    .filter(([, until]) => until > now)
    .map(([u]) => u);
}

export function typingText(state: Pick<ChatState, 'users'>, cs: ConversationState, now: number): string | null {
  const ids = typingUsers(cs, now);
  if (ids.length === 0) return null;
  if (cs.conversation.type === 'direct') return 'typing…';
  const names = ids.map((id) => displayName(state, id));
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

export function myReadSeq(cs: ConversationState, me: Uuid | undefined): number {
  return me ? (cs.receipts[me]?.readSeq ?? 0) : 0;
}

/** Highest seq of a message held in the conversation. */
export function latestSeq(cs: ConversationState): number {
  return cs.messages[cs.messages.length - 1]?.seq ?? 0;
}

export function lastPreview(state: Pick<ChatState, 'users' | 'me'>, cs: ConversationState): string {
  const lastPending = cs.pending[cs.pending.length - 1];
  const lm = cs.conversation.lastMessage;
  if (lastPending && (!lm || lastPending.createdAt >= lm.createdAt)) return `You: ${lastPending.body}`;
  if (!lm) return 'No messages yet';
  if (lm.senderId === state.me?.id) return `You: ${lm.preview}`;
  if (cs.conversation.type === 'group') return `${displayName(state, lm.senderId)}: ${lm.preview}`;
  return lm.preview;
}

/**
 * Why nobody can send in a conversation: `byMe` when the signed-in user blocked the other
 * member of a direct chat, `byThem` when the server says it is blocked otherwise, else null.
 */
export function blockState(state: Pick<ChatState, 'blocked' | 'me'>, cs: ConversationState): 'byMe' | 'byThem' | null {
  const peer = directPeer(cs.conversation, state.me?.id);
  if (peer && state.blocked[peer]) return 'byMe';
  return cs.conversation.blocked ? 'byThem' : null;
}
