/**
 * Wire types of the Parley client protocol v1 (docs/protocol.md).
 *
 * Every REST body and every WebSocket frame is described here exactly as it
 * travels on the wire (camelCase JSON). Nothing in this file does I/O.
 */

export type Uuid = string;
/** RFC 3339 timestamp in UTC. */
export type Timestamp = string;

// ---------------------------------------------------------------- errors

export const ERROR_CODES = [
  'bad_request',
  'invalid_frame',
  'unknown_type',
  'invalid_id',
  'body_too_long',
  'body_empty',
  'not_authenticated',
  'invalid_token',
  'token_expired',
  'forbidden',
  'not_found',
  'not_member',
  'rate_limited',
  'conflict',
  'username_taken',
  'invalid_credentials',
  'group_full',
  'edit_window_closed',
  'blocked',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Body of every REST error answer. */
export interface ErrorBody {
  code: ErrorCode | string;
  message: string;
}

// ---------------------------------------------------------------- users & auth

export type PresencePrivacy = 'everyone' | 'contacts' | 'nobody';

export interface User {
  id: Uuid;
  username: string;
  displayName: string;
  avatarUrl: string | null;
  /** The signed-in user's own settings (only on `/users/me` and auth answers). */
  readReceipts?: boolean | null;
  presencePrivacy?: PresencePrivacy | null;
  /** Status and last seen on `GET /users/{id}`, when the user's privacy setting lets the caller see them. */
  presence?: PresenceInfo | null;
}

export interface PresenceInfo {
  status: PresenceStatus;
  /** When the user was last online (null if never seen, or online with no earlier visit). */
  lastSeen?: Timestamp | null;
}

export interface AuthResponse {
  user: User;
  accessToken: string;
  refreshToken: string;
  /** Lifetime of the access token in seconds. */
  expiresIn: number;
}

export interface RegisterRequest {
  username: string;
  password: string;
  displayName?: string;
}

export interface LoginRequest {
  username: string;
  password: string;
}

export interface RefreshRequest {
  refreshToken: string;
}

export interface LogoutRequest {
  refreshToken: string;
}

export interface UpdateMeRequest {
  displayName?: string;
  avatarUrl?: string | null;
  readReceipts?: boolean;
  presencePrivacy?: PresencePrivacy;
}

export interface UserSearchResponse {
  users: User[];
}

// ---------------------------------------------------------------- conversations

export type ConversationType = 'direct' | 'group';
export type MemberRole = 'admin' | 'member';

export interface Member {
  userId: Uuid;
  role: MemberRole;
  username: string;
  displayName: string;
}

export interface LastMessage {
  seq: number;
  senderId: Uuid;
  preview: string;
  createdAt: Timestamp;
}

export interface Conversation {
  id: Uuid;
  type: ConversationType;
  name: string | null;
  createdAt: Timestamp;
  members: Member[];
  lastSeq: number;
  lastMessage: LastMessage | null;
  unreadCount: number;
  /** A direct conversation in which one member blocked the other: nobody can send in it. */
  blocked?: boolean;
}

export interface ConversationListResponse {
  conversations: Conversation[];
}

export interface CreateConversationRequest {
  type: ConversationType;
  memberIds: Uuid[];
  name?: string;
}

export interface RenameConversationRequest {
  name: string;
}

export interface AddMembersRequest {
  userIds: Uuid[];
}

// ---------------------------------------------------------------- messages

export interface Reaction {
  emoji: string;
  userIds: Uuid[];
}

export interface ReplyRef {
  id: Uuid;
  senderId: Uuid;
  preview: string;
}

export interface ForwardedFrom {
  conversationId: Uuid;
  messageId: Uuid;
  senderId: Uuid;
}

export interface Message {
  id: Uuid;
  seq: number;
  conversationId: Uuid;
  senderId: Uuid;
  body: string;
  createdAt: Timestamp;
  editedAt: Timestamp | null;
  deleted: boolean;
  replyTo: ReplyRef | null;
  forwardedFrom: ForwardedFrom | null;
  mentions: Uuid[];
  reactions: Reaction[];
}

export interface MessagePage {
  /** Newest first. */
  messages: Message[];
  nextCursor: number | null;
  hasMore: boolean;
}

export interface RestSendRequest {
  id: Uuid;
  body: string;
}

export interface RestSendResponse {
  id: Uuid;
  status: 'accepted';
}

export interface ReadRequest {
  seq: number;
}

export interface Receipt {
  userId: Uuid;
  deliveredSeq: number;
  readSeq: number;
}

export interface ReceiptsResponse {
  receipts: Receipt[];
}

export interface ReportRequest {
  reason: string;
}

export interface ReportCreated {
  id: Uuid;
}

// ---------------------------------------------------------------- presence

export type PresenceSetStatus = 'online' | 'away' | 'busy' | 'invisible';
export type PresenceStatus = 'online' | 'away' | 'busy' | 'offline';

// ---------------------------------------------------------------- WebSocket: client → server

export interface AuthFrame {
  type: 'auth';
  token: string;
}

export interface ForwardFrom {
  conversationId: Uuid;
  messageId: Uuid;
}

export interface MessageSendFrame {
  type: 'message:send';
  id: Uuid;
  conversationId: Uuid;
  body: string;
  replyTo?: Uuid;
  mentions?: Uuid[];
  forwardFrom?: ForwardFrom;
}

export interface MessageEditFrame {
  type: 'message:edit';
  id: Uuid;
  conversationId: Uuid;
  messageId: Uuid;
  body: string;
}

export interface MessageDeleteFrame {
  type: 'message:delete';
  id: Uuid;
  conversationId: Uuid;
  messageId: Uuid;
}

export interface ReactionFrame {
  type: 'reaction:add' | 'reaction:remove';
  id: Uuid;
  conversationId: Uuid;
  messageId: Uuid;
  emoji: string;
}

export interface WatermarkFrame {
  type: 'message:delivered' | 'message:read';
  conversationId: Uuid;
  seq: number;
}

export interface TypingFrame {
  type: 'typing:start' | 'typing:stop';
  conversationId: Uuid;
}

export interface PresenceSetFrame {
  type: 'presence:set';
  status: PresenceSetStatus;
}

export interface SyncFrame {
  type: 'sync';
  cursors: Record<Uuid, number>;
}

export interface PingFrame {
  type: 'ping';
  ref?: string;
}

export type ClientFrame =
  | AuthFrame
  | MessageSendFrame
  | MessageEditFrame
  | MessageDeleteFrame
  | ReactionFrame
  | WatermarkFrame
  | TypingFrame
  | PresenceSetFrame
  | SyncFrame
  | PingFrame;

/** Client frames that carry an idempotency id and are answered by `ack`. */
export type CommandFrame = MessageSendFrame | MessageEditFrame | MessageDeleteFrame | ReactionFrame;

// ---------------------------------------------------------------- WebSocket: server → client

export interface ReadyFrame {
  type: 'ready';
  userId: Uuid;
}

export interface AckFrame {
  type: 'ack';
  ref: Uuid;
  status: 'accepted';
}

export interface MessageNewFrame {
  type: 'message:new';
  message: Message;
}

export interface MessagesOfflineFrame {
  type: 'messages:offline';
  conversationId: Uuid;
  messages: Message[];
  hasMore: boolean;
  /** Messages from before the cursor changed by an edit/reaction/delete inside the batch's range. */
  updates?: Message[];
  /** Highest seq the batch covers; the client's cursor moves there. */
  lastSeq?: number;
}

export interface ConversationUpdatedFrame {
  type: 'conversation:updated';
  conversation: Conversation;
}

/** The user was removed from (or left) a group. */
export interface ConversationRemovedFrame {
  type: 'conversation:removed';
  conversationId: Uuid;
}

export interface SyncDoneFrame {
  type: 'sync:done';
}

export interface PongFrame {
  type: 'pong';
  ref?: string;
}

export interface ErrorFrame {
  type: 'error';
  ref?: string;
  code: ErrorCode | string;
  message: string;
}

export interface ReconnectFrame {
  type: 'reconnect';
  afterMs: number;
}

export interface MessageUpdatedFrame {
  type: 'message:updated';
  seq: number;
  message: Message;
}

export interface MessageDeletedFrame {
  type: 'message:deleted';
  seq: number;
  conversationId: Uuid;
  messageId: Uuid;
}

export interface MessageStatusFrame {
  type: 'message:status';
  conversationId: Uuid;
  userId: Uuid;
  deliveredSeq: number;
  readSeq: number;
}

export interface TypingEventFrame {
  type: 'typing';
  conversationId: Uuid;
  userId: Uuid;
  state: 'start' | 'stop';
}

export interface PresenceFrame {
  type: 'presence';
  userId: Uuid;
  status: PresenceStatus;
  lastSeen?: Timestamp | null;
}

export type ServerFrame =
  | ReadyFrame
  | AckFrame
  | MessageNewFrame
  | MessagesOfflineFrame
  | ConversationUpdatedFrame
  | ConversationRemovedFrame
  | SyncDoneFrame
  | PongFrame
  | ErrorFrame
  | ReconnectFrame
  | MessageUpdatedFrame
  | MessageDeletedFrame
  | MessageStatusFrame
  | TypingEventFrame
  | PresenceFrame;

export type ServerFrameType = ServerFrame['type'];

const SERVER_FRAME_TYPES: ReadonlySet<string> = new Set<ServerFrameType>([
  'ready',
  'ack',
  'message:new',
  'messages:offline',
  'conversation:updated',
  'conversation:removed',
  'sync:done',
  'pong',
  'error',
  'reconnect',
  'message:updated',
  'message:deleted',
  'message:status',
  'typing',
  'presence',
]);

/**
 * Parses one text frame. Returns null for anything that is not a JSON object
 * with a known `type`, so a newer server cannot crash an older client.
 */
export function parseServerFrame(text: string): ServerFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !SERVER_FRAME_TYPES.has(type)) return null;
  return value as ServerFrame;
}

/**
 * Fills the optional fields of a Message, so that a server that sends the
 * short form (id, seq, conversationId, senderId, body, createdAt) still yields
 * a complete value.
 */
export function normalizeMessage(m: Partial<Message> & Pick<Message, 'id' | 'seq' | 'conversationId' | 'senderId' | 'body' | 'createdAt'>): Message {
  return {
    id: m.id,
    seq: m.seq,
    conversationId: m.conversationId,
    senderId: m.senderId,
    body: m.body ?? '',
    createdAt: m.createdAt,
    editedAt: m.editedAt ?? null,
    deleted: m.deleted ?? false,
    replyTo: m.replyTo ?? null,
    forwardedFrom: m.forwardedFrom ?? null,
    mentions: m.mentions ?? [],
    reactions: m.reactions ?? [],
  };
}
