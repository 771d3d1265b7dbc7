/**
 * Shape of the client-side chat state. Plain data only: the reducer in
 * reducer.ts is the single place that changes it.
 */
import type { ConnectionState } from '../sdk/socket';
import type {
  Conversation,
  ForwardFrom,
  ForwardedFrom,
  Message,
  PresenceStatus,
  ReplyRef,
  User,
  Uuid,
} from '../sdk/types';

export type SendStatus = 'sending' | 'accepted' | 'failed';

/** An own message the server has not sequenced yet (optimistic send). */
export interface PendingMessage {
  /** Client-chosen UUIDv7; reused unchanged by every retry. */
  id: Uuid;
  conversationId: Uuid;
  senderId: Uuid;
  body: string;
  createdAt: string;
  replyTo: ReplyRef | null;
  forwardedFrom: ForwardedFrom | null;
  /** What to send again on retry. */
  forwardFrom: ForwardFrom | null;
  mentions: Uuid[];
  status: SendStatus;
  error: { code: string; message: string } | null;
  attempts: number;
}

export type OpKind = 'edit' | 'delete' | 'reaction:add' | 'reaction:remove';

/** An optimistic edit/delete/reaction awaiting its ack; holds what is needed to roll it back. */
export interface PendingOp {
  id: Uuid;
  kind: OpKind;
  conversationId: Uuid;
  messageId: Uuid;
  emoji?: string;
  body?: string;
  prev?: { body: string; editedAt: string | null; deleted: boolean };
}

export interface Watermarks {
  deliveredSeq: number;
  readSeq: number;
}

export interface ConversationState {
  conversation: Conversation;
  /** Sequenced messages, strictly ascending by seq (a seq identifies one message). */
  messages: Message[];
  /** Own unsequenced messages in send order; shown after `messages`. */
  pending: PendingMessage[];
  /** Highest contiguous seq known: every seq up to here has been seen or covered by a sync batch. */
  cursor: number;
  /** Seqs seen above cursor + 1, ascending (the gap before them is still missing). */
  ahead: number[];
  /** The newest page of history has been fetched. */
  historyLoaded: boolean;
  /** More history exists before the oldest loaded message. */
  hasMoreBefore: boolean;
  /** `before` value for the next history page. */
  nextBefore: number | null;
  loadingBefore: boolean;
  /** Delivered/read watermarks per member. */
  receipts: Record<Uuid, Watermarks>;
  /** Typing members: userId → epoch ms at which the indicator expires. */
  typing: Record<Uuid, number>;
}

export interface UserSummary {
  id: Uuid;
  username: string;
  displayName: string;
  avatarUrl: string | null;
}

export interface PresenceInfo {
  status: PresenceStatus;
  lastSeen: string | null;
}

export interface ChatState {
  me: User | null;
  connection: ConnectionState;
  /** True between sending `sync` and receiving `sync:done`. */
  syncing: boolean;
  conversations: Record<Uuid, ConversationState>;
  users: Record<Uuid, UserSummary>;
  presence: Record<Uuid, PresenceInfo>;
  /** Users the signed-in user has blocked (GET /users/me/blocks, then kept up to date locally). */
  blocked: Record<Uuid, UserSummary>;
  /** Messages this user reported: messageId → report id. */
  reported: Record<Uuid, Uuid>;
  ops: Record<Uuid, PendingOp>;
  activeId: Uuid | null;
}

export const initialChatState: ChatState = {
  me: null,
  connection: 'offline',
  syncing: false,
  conversations: {},
  users: {},
  presence: {},
  blocked: {},
  reported: {},
  ops: {},
  activeId: null,
};
