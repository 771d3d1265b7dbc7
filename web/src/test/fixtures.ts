import type { Conversation, Message, User } from '../sdk/types';
import { chatReducer } from '../store/reducer';
import { initialChatState, type ChatState } from '../store/state';

export const ME: User = { id: 'me', username: 'me', displayName: 'Me', avatarUrl: null };
export const BOB = 'bob';
export const CAROL = 'carol';

export function conversation(over: Partial<Conversation> = {}): Conversation {
  return {
    id: 'c1',
    type: 'direct',
    name: null,
    createdAt: '2026-01-01T00:00:00Z',
    members: [
      { userId: ME.id, role: 'member', username: 'me', displayName: 'Me' },
      { userId: BOB, role: 'member', username: 'bob', displayName: 'Bob' },
    ],
    lastSeq: 0,
    lastMessage: null,
    unreadCount: 0,
    ...over,
  };
}

export function group(over: Partial<Conversation> = {}): Conversation {
  return conversation({
    id: 'g1',
    type: 'group',
    name: 'Team',
    members: [
      { userId: ME.id, role: 'admin', username: 'me', displayName: 'Me' },
      { userId: BOB, role: 'member', username: 'bob', displayName: 'Bob' },
      { userId: CAROL, role: 'member', username: 'carol', displayName: 'Carol' },
    ],
    ...over,
  });
}

export function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    seq,
    conversationId: 'c1',
    senderId: BOB,
    body: `message ${seq}`,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    editedAt: null,
    deleted: false,
    replyTo: null,
    forwardedFrom: null,
    mentions: [],
    reactions: [],
    ...over,
  };
}

export function stateWith(...convs: Conversation[]): ChatState {
  let s = chatReducer(initialChatState, { type: 'session/set', me: ME });
  s = chatReducer(s, { type: 'conversations/loaded', conversations: convs.length ? convs : [conversation()] });
  return s;
}
