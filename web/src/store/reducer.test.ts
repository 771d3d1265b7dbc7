import { describe, expect, it } from 'vitest';
import { BOB, CAROL, conversation, group, ME, msg, stateWith } from '../test/fixtures';
import { chatReducer, type ChatAction } from './reducer';
import { listMessages, messageTick, receiptSummary, sortedConversations, typingUsers } from './selectors';
import type { ChatState, PendingMessage } from './state';

function run(s: ChatState, ...actions: ChatAction[]): ChatState {
  return actions.reduce(chatReducer, s);
}

function pending(id: string, over: Partial<PendingMessage> = {}): PendingMessage {
  return {
    id,
    conversationId: 'c1',
    senderId: ME.id,
    body: 'hello',
    createdAt: '2026-01-02T00:00:00Z',
    replyTo: null,
    forwardedFrom: null,
    forwardFrom: null,
    mentions: [],
    status: 'sending',
    error: null,
    attempts: 1,
    ...over,
  };
}

const c1 = (s: ChatState) => s.conversations.c1!;

describe('optimistic send', () => {
  it('shows the pending message at once, then accepted on ack, then the server message on message:new', () => {
    let s = run(stateWith(conversation({ lastSeq: 2 })), { type: 'message/new', message: msg(3) });
    s = run(s, { type: 'send/pending', message: pending('p1') });
    let list = listMessages(c1(s));
    expect(list.map((m) => m.id)).toEqual(['m3', 'p1']);
    expect(messageTick(c1(s), list[1]!)).toBe('sending');

    s = run(s, { type: 'send/ack', ref: 'p1' });
    list = listMessages(c1(s));
    expect(messageTick(c1(s), list[1]!)).toBe('accepted');

    s = run(s, { type: 'message/new', message: msg(4, { id: 'p1', senderId: ME.id, body: 'hello' }) });
    list = listMessages(c1(s));
    expect(list.map((m) => [m.id, m.seq])).toEqual([
      ['m3', 3],
      ['p1', 4],
    ]);
    expect(c1(s).pending).toEqual([]);
    expect(messageTick(c1(s), list[1]!)).toBe('sent');
  });

  it('accepts message:new before the ack (the late ack is ignored)', () => {
    let s = run(stateWith(), { type: 'send/pending', message: pending('p1') });
    s = run(s, { type: 'message/new', message: msg(1, { id: 'p1', senderId: ME.id }) });
    const after = run(s, { type: 'send/ack', ref: 'p1' });
    expect(after).toBe(s);
    expect(c1(after).messages.map((m) => m.id)).toEqual(['p1']);
  });

  it('marks a message failed on error and retries with the same id', () => {
    let s = run(stateWith(), { type: 'send/pending', message: pending('p1') });
    s = run(s, { type: 'send/failed', id: 'p1', code: 'rate_limited', message: 'slow down' });
    expect(c1(s).pending[0]).toMatchObject({ id: 'p1', status: 'failed', error: { code: 'rate_limited' } });
    expect(messageTick(c1(s), listMessages(c1(s))[0]!)).toBe('failed');

    s = run(s, { type: 'send/retry', id: 'p1' });
    expect(c1(s).pending).toHaveLength(1);
    expect(c1(s).pending[0]).toMatchObject({ id: 'p1', status: 'sending', error: null, attempts: 2 });
  });

  it('does not fail a message that the server already accepted', () => {
    let s = run(stateWith(), { type: 'send/pending', message: pending('p1') }, { type: 'send/ack', ref: 'p1' });
    s = run(s, { type: 'send/failed', id: 'p1', code: 'timeout', message: '' });
    expect(c1(s).pending[0]!.status).toBe('accepted');
  });

  it('rolls back a failed send when discarded', () => {
    let s = run(stateWith(), { type: 'send/pending', message: pending('p1') });
    s = run(s, { type: 'send/failed', id: 'p1', code: 'body_too_long', message: 'too long' }, { type: 'send/discard', id: 'p1' });
    expect(listMessages(c1(s))).toEqual([]);
  });
});

describe('optimistic edits, deletes and reactions', () => {
  const base = () => run(stateWith(), { type: 'message/new', message: msg(1, { senderId: ME.id, body: 'orig' }) });

  it('applies a reaction at once and rolls it back on error', () => {
    let s = run(base(), { type: 'op/apply', op: { id: 'o1', kind: 'reaction:add', conversationId: 'c1', messageId: 'm1', emoji: '👍' }, me: ME.id, now: 'T' });
    expect(c1(s).messages[0]!.reactions).toEqual([{ emoji: '👍', userIds: [ME.id] }]);
    s = run(s, { type: 'send/failed', id: 'o1', code: 'forbidden', message: '' });
    expect(c1(s).messages[0]!.reactions).toEqual([]);
    expect(s.ops).toEqual({});
  });

  it('keeps the reaction after the ack', () => {
    let s = run(base(), { type: 'op/apply', op: { id: 'o1', kind: 'reaction:add', conversationId: 'c1', messageId: 'm1', emoji: '👍' }, me: ME.id, now: 'T' });
    s = run(s, { type: 'send/ack', ref: 'o1' });
    expect(c1(s).messages[0]!.reactions).toEqual([{ emoji: '👍', userIds: [ME.id] }]);
    expect(s.ops).toEqual({});
  });

  it('rolls back an edit and a delete', () => {
    let s = run(base(), { type: 'op/apply', op: { id: 'o1', kind: 'edit', conversationId: 'c1', messageId: 'm1', body: 'new' }, me: ME.id, now: 'T' });
    expect(c1(s).messages[0]).toMatchObject({ body: 'new', editedAt: 'T' });
    s = run(s, { type: 'op/failed', id: 'o1' });
    expect(c1(s).messages[0]).toMatchObject({ body: 'orig', editedAt: null });

    s = run(s, { type: 'op/apply', op: { id: 'o2', kind: 'delete', conversationId: 'c1', messageId: 'm1' }, me: ME.id, now: 'T' });
    expect(c1(s).messages[0]!.deleted).toBe(true);
    s = run(s, { type: 'op/failed', id: 'o2' });
    expect(c1(s).messages[0]).toMatchObject({ deleted: false, body: 'orig' });
  });

  it('does not undo a newer server version when an edit fails late', () => {
    let s = run(base(), { type: 'op/apply', op: { id: 'o1', kind: 'edit', conversationId: 'c1', messageId: 'm1', body: 'mine' }, me: ME.id, now: 'T' });
    s = run(s, { type: 'message/updated', seq: 2, message: msg(1, { senderId: ME.id, body: 'from another device', editedAt: 'T2' }) });
    s = run(s, { type: 'op/failed', id: 'o1' });
    expect(c1(s).messages[0]!.body).toBe('from another device');
  });
});

describe('live updates', () => {
  it('applies message:updated and message:deleted and advances the cursor over their seqs', () => {
    let s = run(stateWith(), { type: 'message/new', message: msg(1) }, { type: 'message/new', message: msg(2) });
    s = run(s, { type: 'message/updated', seq: 3, message: msg(1, { body: 'edited', editedAt: 'T', reactions: [{ emoji: '🎉', userIds: [ME.id] }] }) });
    s = run(s, { type: 'message/deleted', seq: 4, conversationId: 'c1', messageId: 'm2' });
    expect(c1(s).messages[0]).toMatchObject({ body: 'edited', editedAt: 'T' });
    expect(c1(s).messages[1]).toMatchObject({ deleted: true, body: '' });
    expect(c1(s).cursor).toBe(4);
    expect(c1(s).conversation.lastMessage?.preview).toBe('Message deleted');
  });

  it('records a gap when a seq is skipped, and closes it when the missing one arrives', () => {
    let s = run(stateWith(), { type: 'message/new', message: msg(1) }, { type: 'message/new', message: msg(3) });
    expect(c1(s)).toMatchObject({ cursor: 1, ahead: [3] });
    s = run(s, { type: 'message/new', message: msg(2) });
    expect(c1(s)).toMatchObject({ cursor: 3, ahead: [] });
    expect(c1(s).messages.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('ignores a duplicate message:new', () => {
    const s = run(stateWith(), { type: 'message/new', message: msg(1) });
    const again = run(s, { type: 'message/new', message: msg(1) });
    expect(c1(again).messages).toHaveLength(1);
    expect(c1(again).conversation.unreadCount).toBe(1);
  });
});

describe('messages:offline merge', () => {
  it('dedupes, orders by seq, applies updates and moves the cursor to lastSeq', () => {
    let s = run(
      stateWith(conversation({ lastSeq: 3 })),
      { type: 'history/page', conversationId: 'c1', page: { messages: [msg(3), msg(2)], nextCursor: 2, hasMore: true } },
      { type: 'send/pending', message: pending('mine') },
    );
    s = run(s, {
      type: 'messages/offline',
      frame: {
        type: 'messages:offline',
        conversationId: 'c1',
        messages: [msg(6), msg(4), msg(3), msg(7, { id: 'mine', senderId: ME.id })],
        // m1 is not loaded here: its update is left for the history page to bring
        updates: [msg(2, { body: 'edited offline', editedAt: 'T' }), msg(1, { body: 'not held' })],
        hasMore: false,
        lastSeq: 9,
      },
    });
    const cs = c1(s);
    expect(cs.messages.map((m) => m.seq)).toEqual([2, 3, 4, 6, 7]);
    expect(cs.messages[0]!.body).toBe('edited offline');
    expect(cs.cursor).toBe(9);
    expect(cs.ahead).toEqual([]);
    expect(cs.pending).toEqual([]);
    expect(cs.conversation.lastSeq).toBe(9);
    expect(cs.conversation.lastMessage?.seq).toBe(7);
    expect(cs.conversation.unreadCount).toBe(2); // 4 and 6 from Bob; 3 was held, 7 is mine
  });

  it('merges consecutive batches arriving out of order', () => {
    let s = stateWith(conversation({ lastSeq: 0 }));
    s = run(s, { type: 'messages/offline', frame: { type: 'messages:offline', conversationId: 'c1', messages: [msg(4), msg(3)], updates: [], hasMore: false, lastSeq: 4 } });
    s = run(s, { type: 'messages/offline', frame: { type: 'messages:offline', conversationId: 'c1', messages: [msg(2), msg(1), msg(3)], updates: [], hasMore: true, lastSeq: 3 } });
    expect(c1(s).messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(c1(s).cursor).toBe(4);
  });
});

describe('history pages', () => {
  it('prepends older pages and tracks hasMore / nextCursor', () => {
    let s = stateWith(conversation({ lastSeq: 100 }));
    const page = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => msg(to - i));
    s = run(s, { type: 'history/page', conversationId: 'c1', page: { messages: page(51, 100), nextCursor: 51, hasMore: true } });
    expect(c1(s)).toMatchObject({ historyLoaded: true, hasMoreBefore: true, nextBefore: 51 });
    s = run(s, { type: 'history/page', conversationId: 'c1', page: { messages: page(1, 50), nextCursor: null, hasMore: false } });
    expect(c1(s).messages).toHaveLength(100);
    expect(c1(s).messages[0]!.seq).toBe(1);
    expect(c1(s).hasMoreBefore).toBe(false);
  });
});

describe('receipts and ticks', () => {
  it('direct chat: sent ✓ → delivered ✓✓ → read ✓✓', () => {
    let s = run(stateWith(), { type: 'message/new', message: msg(1, { senderId: ME.id }) });
    const tick = () => messageTick(c1(s), c1(s).messages[0]!);
    expect(tick()).toBe('sent');
    s = run(s, { type: 'receipt', conversationId: 'c1', userId: BOB, deliveredSeq: 1, readSeq: 0 });
    expect(tick()).toBe('delivered');
    s = run(s, { type: 'receipt', conversationId: 'c1', userId: BOB, deliveredSeq: 1, readSeq: 1 });
    expect(tick()).toBe('read');
  });

  it('watermarks are monotonic and read implies delivered', () => {
    let s = run(stateWith(), { type: 'receipt', conversationId: 'c1', userId: BOB, deliveredSeq: 0, readSeq: 5 });
    expect(c1(s).receipts[BOB]).toEqual({ deliveredSeq: 5, readSeq: 5 });
    s = run(s, { type: 'receipt', conversationId: 'c1', userId: BOB, deliveredSeq: 3, readSeq: 2 });
    expect(c1(s).receipts[BOB]).toEqual({ deliveredSeq: 5, readSeq: 5 });
  });

  it('group: read by N of M, and by whom', () => {
    let s = run(stateWith(group()), { type: 'message/new', message: msg(1, { conversationId: 'g1', senderId: ME.id }) });
    const g = () => s.conversations.g1!;
    s = run(s, { type: 'receipt', conversationId: 'g1', userId: BOB, deliveredSeq: 1, readSeq: 1 });
    expect(receiptSummary(g(), 1, ME.id)).toEqual({ total: 2, deliveredTo: [BOB], readBy: [BOB] });
    expect(messageTick(g(), g().messages[0]!)).toBe('sent');
    s = run(s, { type: 'receipt', conversationId: 'g1', userId: CAROL, deliveredSeq: 1, readSeq: 0 });
    expect(messageTick(g(), g().messages[0]!)).toBe('delivered');
    s = run(s, { type: 'receipt', conversationId: 'g1', userId: CAROL, deliveredSeq: 1, readSeq: 3 });
    expect(messageTick(g(), g().messages[0]!)).toBe('read');
    expect(receiptSummary(g(), 1, ME.id).readBy).toEqual([BOB, CAROL]);
  });
});

describe('unread counts', () => {
  it('counts new messages from others and clears on own read watermark', () => {
    let s = run(stateWith(conversation({ unreadCount: 0 })), { type: 'message/new', message: msg(1) }, { type: 'message/new', message: msg(2) });
    s = run(s, { type: 'message/new', message: msg(3, { senderId: ME.id }) });
    expect(c1(s).conversation.unreadCount).toBe(2);
    s = run(s, { type: 'receipt', conversationId: 'c1', userId: ME.id, deliveredSeq: 1, readSeq: 1 });
    expect(c1(s).conversation.unreadCount).toBe(1);
    s = run(s, { type: 'receipt', conversationId: 'c1', userId: ME.id, deliveredSeq: 3, readSeq: 3 });
    expect(c1(s).conversation.unreadCount).toBe(0);
  });
});

describe('typing', () => {
  it('expires a start after 3 s without refresh, and a refresh extends it', () => {
    let s = run(stateWith(), { type: 'typing', conversationId: 'c1', userId: BOB, state: 'start', now: 1000 });
    expect(typingUsers(c1(s), 1000)).toEqual([BOB]);
    s = run(s, { type: 'typing', conversationId: 'c1', userId: BOB, state: 'start', now: 3000 });
    s = run(s, { type: 'typing/expire', now: 4500 });
    expect(typingUsers(c1(s), 4500)).toEqual([BOB]);
    s = run(s, { type: 'typing/expire', now: 6000 });
    expect(c1(s).typing).toEqual({});
  });

  it('stops on typing:stop and when the typer\'s message arrives; ignores own typing', () => {
    let s = run(stateWith(), { type: 'typing', conversationId: 'c1', userId: BOB, state: 'start', now: 0 });
    s = run(s, { type: 'typing', conversationId: 'c1', userId: BOB, state: 'stop', now: 1 });
    expect(c1(s).typing).toEqual({});
    s = run(s, { type: 'typing', conversationId: 'c1', userId: BOB, state: 'start', now: 2 }, { type: 'message/new', message: msg(1) });
    expect(c1(s).typing).toEqual({});
    s = run(s, { type: 'typing', conversationId: 'c1', userId: ME.id, state: 'start', now: 3 });
    expect(c1(s).typing).toEqual({});
  });
});

describe('conversations', () => {
  it('sorts by last activity and follows live messages', () => {
    let s = stateWith(
      conversation({ id: 'a', lastMessage: { seq: 1, senderId: BOB, preview: 'x', createdAt: '2026-01-01T10:00:00Z' }, lastSeq: 1 }),
      conversation({ id: 'b', lastMessage: { seq: 1, senderId: BOB, preview: 'y', createdAt: '2026-01-01T11:00:00Z' }, lastSeq: 1 }),
    );
    expect(sortedConversations(s).map((c) => c.conversation.id)).toEqual(['b', 'a']);
    s = run(s, { type: 'message/new', message: msg(2, { conversationId: 'a', createdAt: '2026-01-01T12:00:00Z' }) });
    expect(sortedConversations(s).map((c) => c.conversation.id)).toEqual(['a', 'b']);
  });

  it('removes a conversation I am no longer a member of', () => {
    let s = stateWith(group());
    s = run(s, { type: 'conversation/upsert', conversation: group({ members: group().members.filter((m) => m.userId !== ME.id) }) });
    expect(s.conversations.g1).toBeUndefined();
  });

  it('a conversation listed but never opened follows the server head as its cursor', () => {
    let s = stateWith(conversation({ lastSeq: 7 }));
    expect(c1(s).cursor).toBe(7);
    s = run(s, { type: 'conversation/upsert', conversation: conversation({ lastSeq: 9 }) });
    expect(c1(s).cursor).toBe(9);
  });

  it('tracks presence', () => {
    const s = run(stateWith(), { type: 'presence', userId: BOB, status: 'online', lastSeen: null });
    expect(s.presence[BOB]).toEqual({ status: 'online', lastSeen: null });
  });
});
