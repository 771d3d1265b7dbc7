/**
 * Wire types of the Parley client protocol v1 (docs/protocol.md).
 *
 * The shapes come from `wire.gen.ts`, generated from the JSON Schemas that the
 * `contracts` crate renders into docs/api/ (one protocol, one definition).
 * This file only gives them the SDK's names, and for values read from the
 * server, the complete form after `normalizeMessage` has filled the fields the
 * schema lets a server leave out. Nothing in this file does I/O.
 */
import type * as wire from './wire.gen';
import { ErrorCodeValues, ServerFrameTypes } from './wire.gen';

export type {
  AddMembersRequest,
  AuthResponse,
  ConversationType,
  CreateConversationRequest,
  ErrorCode,
  ForwardFrom,
  LastMessage,
  LoginRequest,
  Member,
  PresenceInfo,
  PresencePrivacy,
  PresenceSetStatus,
  PresenceStatus,
  Reaction,
  ReadRequest,
  Receipt,
  RefreshRequest,
  RegisterRequest,
  ReplyRef,
  ReportCreated,
  ReportRequest,
  Timestamp,
  UpdateMeRequest,
  Uuid,
} from './wire.gen';

// ---------------------------------------------------------------- errors

export const ERROR_CODES = ErrorCodeValues;

/** Body of every REST error answer; a newer server may send a code this client does not know. */
export interface ErrorBody extends Omit<wire.ApiError, 'code'> {
  code: wire.ErrorCode | (string & {});
}

// ---------------------------------------------------------------- users & auth

export type User = wire.User;
export type LogoutRequest = wire.RefreshRequest;
export type UserSearchResponse = wire.UserList;

// ---------------------------------------------------------------- conversations

export type MemberRole = wire.Role;
export type Conversation = wire.Conversation;
export type ConversationListResponse = wire.ConversationList;
export type RenameConversationRequest = wire.UpdateConversationRequest;

// ---------------------------------------------------------------- messages

export type ForwardedFrom = wire.ForwardRef;

/** A message with every field the schema lets a server omit filled in (see normalizeMessage). */
export type Message = Required<wire.Message>;

export interface MessagePage extends Omit<wire.MessagePage, 'messages'> {
  /** Newest first. */
  messages: Message[];
}

export type RestSendRequest = wire.SendMessageRequest;
export type RestSendResponse = wire.Accepted;
export type ReceiptsResponse = wire.ReceiptList;

// ---------------------------------------------------------------- WebSocket: client → server

type Client<T extends wire.ClientFrame['type']> = Extract<wire.ClientFrame, { type: T }>;

export type AuthFrame = Client<'auth'>;
export type MessageSendFrame = Client<'message:send'>;
export type MessageEditFrame = Client<'message:edit'>;
export type MessageDeleteFrame = Client<'message:delete'>;
export type ReactionFrame = Client<'reaction:add' | 'reaction:remove'>;
export type WatermarkFrame = Client<'message:delivered' | 'message:read'>;
export type TypingFrame = Client<'typing:start' | 'typing:stop'>;
export type PresenceSetFrame = Client<'presence:set'>;
export type SyncFrame = Client<'sync'>;
export type PingFrame = Client<'ping'>;
export type ClientFrame = wire.ClientFrame;

/** Client frames that carry an idempotency id and are answered by `ack`. */
export type CommandFrame = MessageSendFrame | MessageEditFrame | MessageDeleteFrame | ReactionFrame;

// ---------------------------------------------------------------- WebSocket: server → client

type Server<T extends wire.ServerFrame['type']> = Extract<wire.ServerFrame, { type: T }>;
/** A server frame with its messages in the complete form. */
type WithMessages<F, K extends keyof F> = Omit<F, K> & { [P in K]: F[P] extends unknown[] ? Message[] : Message };

export type ReadyFrame = Server<'ready'>;
export type AckFrame = Server<'ack'>;
export type MessageNewFrame = WithMessages<Server<'message:new'>, 'message'>;
export type MessagesOfflineFrame = WithMessages<Server<'messages:offline'>, 'messages' | 'updates'>;
export type ConversationUpdatedFrame = Server<'conversation:updated'>;
/** The user was removed from (or left) a group. */
export type ConversationRemovedFrame = Server<'conversation:removed'>;
export type SyncDoneFrame = Server<'sync:done'>;
export type PongFrame = Server<'pong'>;
export type ErrorFrame = Omit<Server<'error'>, 'code'> & { code: ErrorBody['code'] };
export type ReconnectFrame = Server<'reconnect'>;
export type MessageUpdatedFrame = WithMessages<Server<'message:updated'>, 'message'>;
export type MessageDeletedFrame = Server<'message:deleted'>;
export type MessageStatusFrame = Server<'message:status'>;
export type TypingEventFrame = Server<'typing'>;
export type PresenceFrame = Server<'presence'>;

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

const SERVER_FRAME_TYPES: ReadonlySet<string> = new Set<ServerFrameType>(ServerFrameTypes);

/**
 * Parses one text frame. Returns null for anything that is not a JSON object
 * with a known `type`, so a newer server cannot crash an older client. The
 * messages a frame carries come back complete (normalizeMessage).
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
  const frame = value as wire.ServerFrame;
  switch (frame.type) {
    case 'message:new':
    case 'message:updated':
      return isObject(frame.message) ? { ...frame, message: normalizeMessage(frame.message) } : null;
    case 'messages:offline': {
      const updates = frame.updates ?? [];
      if (!Array.isArray(frame.messages) || !Array.isArray(updates)) return null;
      if (!frame.messages.every(isObject) || !updates.every(isObject)) return null;
      return { ...frame, messages: frame.messages.map(normalizeMessage), updates: updates.map(normalizeMessage) };
    }
    default:
      return frame;
  }
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Fills the fields of a Message that the schema lets a server omit (they have
 * defaults), so that the short form (id, seq, conversationId, senderId, body,
 * createdAt) still yields a complete value.
 */
export function normalizeMessage(m: wire.Message): Message {
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
