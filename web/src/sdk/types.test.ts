import { ERROR_CODES, parseServerFrame } from './types';
import { ErrorCodeValues, ServerFrameTypes } from './wire.gen';

const short = { id: 'm1', seq: 3, conversationId: 'c1', senderId: 'u1', body: 'hi', createdAt: '2026-01-01T00:00:00Z' };
const complete = { ...short, editedAt: null, deleted: false, replyTo: null, forwardedFrom: null, mentions: [], reactions: [] };

describe('parseServerFrame', () => {
  it('knows every frame type of the schema', () => {
    for (const type of ServerFrameTypes) {
      expect(parseServerFrame(JSON.stringify({ type, message: short, messages: [short], updates: [] }))?.type).toBe(type);
    }
  });

  it('drops a frame whose messages are not objects', () => {
    expect(parseServerFrame('{"type":"message:new"}')).toBeNull();
    expect(parseServerFrame('{"type":"message:updated","seq":1,"message":"x"}')).toBeNull();
    expect(parseServerFrame('{"type":"messages:offline","conversationId":"c1","messages":[1],"updates":[]}')).toBeNull();
    expect(parseServerFrame('{"type":"messages:offline","conversationId":"c1","messages":{}}')).toBeNull();
  });

  it('drops what is not a known frame', () => {
    expect(parseServerFrame('not json')).toBeNull();
    expect(parseServerFrame('[1]')).toBeNull();
    expect(parseServerFrame('{"type":"from:the-future"}')).toBeNull();
  });

  it('fills the message fields the schema lets a server leave out', () => {
    expect(parseServerFrame(JSON.stringify({ type: 'message:new', message: short }))).toEqual({ type: 'message:new', message: complete });
    expect(parseServerFrame(JSON.stringify({ type: 'message:updated', seq: 4, message: short }))).toEqual({
      type: 'message:updated',
      seq: 4,
      message: complete,
    });
    const offline = { type: 'messages:offline', conversationId: 'c1', messages: [short], updates: [short], lastSeq: 3, hasMore: false };
    expect(parseServerFrame(JSON.stringify(offline))).toEqual({ ...offline, messages: [complete], updates: [complete] });
  });

  it('keeps a complete message as it came', () => {
    const full = { ...complete, editedAt: '2026-01-01T00:01:00Z', deleted: true, mentions: ['u2'], reactions: [{ emoji: '👍', userIds: ['u2'] }] };
    expect(parseServerFrame(JSON.stringify({ type: 'message:new', message: full }))).toEqual({ type: 'message:new', message: full });
  });
});

describe('ERROR_CODES', () => {
  it('are the codes of the schema', () => {
    expect([...ERROR_CODES]).toEqual([...ErrorCodeValues]);
    expect(ERROR_CODES).toContain('blocked');
  });
});
