#!/usr/bin/env node
/**
 * In-memory stand-in for the Parley edge, for front-end development and for
 * rehearsing the browser e2e suite when no backend is running. It speaks the
 * protocol of docs/protocol.md (REST under /api/v1, WebSocket at /ws) and
 * serves web/dist. Nothing is persisted; it is not the product backend.
 *
 *   node dev/mock-server.mjs                 # http://127.0.0.1:8090
 *   PORT=9000 SEED_MESSAGES=50000 node dev/mock-server.mjs
 *
 * SEED_MESSAGES creates users alice/bob (password "password123") with a
 * direct conversation holding that many messages (for scroll benchmarks).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const PORT = Number(process.env.PORT ?? 8090);
const HOST = process.env.HOST ?? '127.0.0.1';
const DIST = process.env.PARLEY_DIST ? join(process.env.PARLEY_DIST, '/') : fileURLToPath(new URL('../dist/', import.meta.url));
const ACCESS_TTL_S = Number(process.env.ACCESS_TTL_S ?? 900);
const BATCH = 50;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ------------------------------------------------------------------ state

const users = new Map(); // id -> user (with password and settings)
const byName = new Map(); // username -> id
const access = new Map(); // token -> { userId, exp }
const refresh = new Map(); // token -> userId
const conversations = new Map(); // id -> conversation record
const sockets = new Map(); // userId -> Set<ws>
const presence = new Map(); // userId -> { status, lastSeen }
const blocks = new Set(); // `${blocker}/${blocked}`
const reports = []; // { id, conversationId, messageId, reporterId, reason }
const blockedPair = (a, b) => blocks.has(`${a}/${b}`) || blocks.has(`${b}/${a}`);
const isBlocked = (c) => c.type === 'direct' && c.members.length === 2 && blockedPair(c.members[0].userId, c.members[1].userId);
const commandIds = new Set();

const now = () => new Date().toISOString();
const publicUser = (u) => ({ id: u.id, username: u.username, displayName: u.displayName, avatarUrl: u.avatarUrl });
const isMember = (c, userId) => c.members.some((m) => m.userId === userId);

function createUser(username, password, displayName) {
  const u = { id: randomUUID(), username, password, displayName: displayName || username, avatarUrl: null, readReceipts: true, presencePrivacy: 'everyone' };
  users.set(u.id, u);
  byName.set(username.toLowerCase(), u.id);
  return u;
}

function issue(user) {
  const accessToken = randomUUID();
  const refreshToken = randomUUID();
  access.set(accessToken, { userId: user.id, exp: Date.now() + ACCESS_TTL_S * 1000 });
  refresh.set(refreshToken, user.id);
  return { user: { ...publicUser(user), readReceipts: user.readReceipts, presencePrivacy: user.presencePrivacy }, accessToken, refreshToken, expiresIn: ACCESS_TTL_S };
}

function createConversation(type, memberIds, name, creatorId) {
  const c = {
    id: randomUUID(),
    type,
    name: type === 'group' ? name || null : null,
    createdAt: now(),
    members: memberIds.map((userId) => ({ userId, role: type === 'group' && userId === creatorId ? 'admin' : 'member' })),
    seq: 0,
    events: [], // { seq, messageId }
    messages: new Map(), // id -> message
    bySeq: [], // message ids in seq order
    receipts: new Map(),
  };
  conversations.set(c.id, c);
  return c;
}

function conversationView(c, forUserId) {
  const last = c.bySeq.length ? c.messages.get(c.bySeq[c.bySeq.length - 1]) : null;
  const readSeq = c.receipts.get(forUserId)?.readSeq ?? 0;
  let unread = 0;
  for (let i = c.bySeq.length - 1; i >= 0; i--) {
    const m = c.messages.get(c.bySeq[i]);
    if (m.seq <= readSeq) break;
    if (m.senderId !== forUserId && !m.deleted) unread++;
  }
  return {
    id: c.id,
    type: c.type,
    name: c.name,
    createdAt: c.createdAt,
    members: c.members.map((m) => {
      const u = users.get(m.userId);
      return { userId: m.userId, role: m.role, username: u.username, displayName: u.displayName };
    }),
    lastSeq: c.seq,
    lastMessage: last ? { seq: last.seq, senderId: last.senderId, preview: last.deleted ? 'Message deleted' : last.body.slice(0, 120), createdAt: last.createdAt } : null,
    unreadCount: unread,
    blocked: isBlocked(c),
  };
}

function send(userId, frame) {
  const text = JSON.stringify(frame);
  for (const ws of sockets.get(userId) ?? []) if (ws.readyState === 1) ws.send(text);
}

function broadcast(c, frame) {
  for (const m of c.members) send(m.userId, frame);
}

function announceConversation(c, extraUserIds = []) {
  for (const m of c.members) send(m.userId, { type: 'conversation:updated', conversation: conversationView(c, m.userId) });
  // members may have just become contacts: tell them about each other's presence
  for (const m of c.members) {
    const p = presence.get(m.userId);
    if (!p || users.get(m.userId).presencePrivacy === 'nobody') continue;
    for (const o of c.members) if (o.userId !== m.userId) send(o.userId, { type: 'presence', userId: m.userId, status: p.status === 'invisible' ? 'offline' : p.status, lastSeen: p.lastSeen });
  }
  for (const id of extraUserIds) send(id, { type: 'conversation:updated', conversation: { ...conversationView(c, id) } });
}

function contactsOf(userId) {
  const out = new Set();
  for (const c of conversations.values()) if (isMember(c, userId)) for (const m of c.members) if (m.userId !== userId) out.add(m.userId);
  return out;
}

function setPresence(userId, status) {
  const prev = presence.get(userId);
  const lastSeen = status === 'offline' ? now() : (prev?.lastSeen ?? null);
  presence.set(userId, { status, lastSeen });
  const u = users.get(userId);
  if (u.presencePrivacy === 'nobody') return;
  const shown = status === 'invisible' ? 'offline' : status;
  for (const id of contactsOf(userId)) send(id, { type: 'presence', userId, status: shown, lastSeen });
}

function appendMessage(c, { id, senderId, body, replyTo, mentions, forwardFrom }) {
  c.seq += 1;
  let forwardedFrom = null;
  if (forwardFrom) {
    const src = conversations.get(forwardFrom.conversationId)?.messages.get(forwardFrom.messageId);
    if (src) {
      body = src.body;
      forwardedFrom = { conversationId: forwardFrom.conversationId, messageId: src.id, senderId: src.senderId };
    }
  }
  const quoted = replyTo ? c.messages.get(replyTo) : null;
  const m = {
    id,
    seq: c.seq,
    conversationId: c.id,
    senderId,
    body,
    createdAt: now(),
    editedAt: null,
    deleted: false,
    replyTo: quoted ? { id: quoted.id, senderId: quoted.senderId, preview: quoted.body.slice(0, 120) } : null,
    forwardedFrom,
    mentions: Array.isArray(mentions) ? mentions : [],
    reactions: [],
  };
  c.messages.set(id, m);
  c.bySeq.push(id);
  c.events.push({ seq: c.seq, messageId: id, kind: 'message' });
  return m;
}

// ------------------------------------------------------------------ HTTP

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authUser(req) {
  const h = req.headers.authorization ?? '';
  const token = h.startsWith('Bearer ') ? h.slice(7) : null;
  if (!token) throw new HttpError(401, 'not_authenticated', 'Missing bearer token');
  const a = access.get(token);
  if (!a) throw new HttpError(401, 'invalid_token', 'Unknown token');
  if (a.exp < Date.now()) throw new HttpError(401, 'token_expired', 'Access token expired');
  return users.get(a.userId);
}

function memberConversation(id, user) {
  const c = conversations.get(id);
  if (!c) throw new HttpError(404, 'not_found', 'No such conversation');
  if (!isMember(c, user.id)) throw new HttpError(403, 'not_member', 'Not a member');
  return c;
}

async function readBody(req) {
  const chunks = [];
  for await (const ch of req) chunks.push(ch);
  if (!chunks.length) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'bad_request', 'Invalid JSON');
  }
}

async function api(req, res, path, query) {
  const method = req.method;
  const body = method === 'GET' || method === 'DELETE' ? {} : await readBody(req);
  const seg = path.split('/').filter(Boolean); // after /api/v1
  const reply = (status, value) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(value === undefined ? '' : JSON.stringify(value));
  };

  if (seg[0] === 'auth') {
    if (method === 'POST' && seg[1] === 'register') {
      const { username, password, displayName } = body;
      if (typeof username !== 'string' || !/^[\w.-]{3,64}$/.test(username)) throw new HttpError(400, 'bad_request', 'Invalid username');
      if (typeof password !== 'string' || password.length < 8) throw new HttpError(400, 'bad_request', 'Password too short');
      if (byName.has(username.toLowerCase())) throw new HttpError(409, 'username_taken', 'Username taken');
      return reply(201, issue(createUser(username, password, displayName)));
    }
    if (method === 'POST' && seg[1] === 'login') {
      const id = byName.get(String(body.username ?? '').toLowerCase());
      const u = id && users.get(id);
      if (!u || u.password !== body.password) throw new HttpError(401, 'invalid_credentials', 'Wrong username or password');
      return reply(200, issue(u));
    }
    if (method === 'POST' && seg[1] === 'refresh') {
      const id = refresh.get(body.refreshToken);
      if (!id) throw new HttpError(401, 'invalid_token', 'Unknown refresh token');
      refresh.delete(body.refreshToken);
      return reply(200, issue(users.get(id)));
    }
    if (method === 'POST' && seg[1] === 'logout') {
      refresh.delete(body.refreshToken);
      return reply(204);
    }
  }

  const me = authUser(req);

  if (seg[0] === 'users') {
    if (seg[1] === 'me' && method === 'GET') return reply(200, { ...publicUser(me), readReceipts: me.readReceipts, presencePrivacy: me.presencePrivacy });
    if (seg[1] === 'me' && method === 'PATCH') {
      if (typeof body.displayName === 'string' && body.displayName.trim()) me.displayName = body.displayName.trim();
      if (body.avatarUrl !== undefined) me.avatarUrl = body.avatarUrl || null;
      if (typeof body.readReceipts === 'boolean') me.readReceipts = body.readReceipts;
      if (['everyone', 'contacts', 'nobody'].includes(body.presencePrivacy)) me.presencePrivacy = body.presencePrivacy;
      for (const c of conversations.values()) if (isMember(c, me.id)) announceConversation(c);
      return reply(200, { ...publicUser(me), readReceipts: me.readReceipts, presencePrivacy: me.presencePrivacy });
    }
    if (seg[1] === 'search' && method === 'GET') {
      const q = (query.get('q') ?? '').toLowerCase();
      const found = [...users.values()].filter((u) => q && (u.username.toLowerCase().includes(q) || u.displayName.toLowerCase().includes(q)));
      return reply(200, { users: found.slice(0, 20).map(publicUser) });
    }
    if (seg[1] === 'me' && seg[2] === 'blocks' && method === 'GET') {
      const list = [...blocks].filter((k) => k.startsWith(`${me.id}/`)).map((k) => publicUser(users.get(k.split('/')[1])));
      return reply(200, { users: list });
    }
    if (seg[1] && seg.length === 2 && method === 'GET') {
      const u = users.get(seg[1]);
      if (!u) throw new HttpError(404, 'not_found', 'No such user');
      const p = presence.get(u.id);
      const visible = u.id === me.id || (u.presencePrivacy !== 'nobody' && !blockedPair(me.id, u.id));
      const shown = p ? { status: p.status === 'invisible' ? 'offline' : p.status, lastSeen: p.lastSeen } : { status: 'offline', lastSeen: null };
      return reply(200, visible ? { ...publicUser(u), presence: shown } : publicUser(u));
    }
    if (seg[2] === 'block' && (method === 'POST' || method === 'DELETE')) {
      if (!users.has(seg[1])) throw new HttpError(404, 'not_found', 'No such user');
      if (seg[1] === me.id) throw new HttpError(400, 'bad_request', 'You cannot block yourself');
      if (method === 'POST') blocks.add(`${me.id}/${seg[1]}`);
      else blocks.delete(`${me.id}/${seg[1]}`);
      for (const c of conversations.values()) {
        if (c.type === 'direct' && isMember(c, me.id) && isMember(c, seg[1])) announceConversation(c);
      }
      return reply(204);
    }
  }

  if (seg[0] === 'conversations') {
    if (seg.length === 1 && method === 'GET') {
      const list = [...conversations.values()].filter((c) => isMember(c, me.id)).map((c) => conversationView(c, me.id));
      list.sort((a, b) => (b.lastMessage?.createdAt ?? b.createdAt).localeCompare(a.lastMessage?.createdAt ?? a.createdAt));
      return reply(200, { conversations: list });
    }
    if (seg.length === 1 && method === 'POST') {
      const ids = [...new Set([me.id, ...(body.memberIds ?? [])])];
      for (const id of ids) if (!users.has(id)) throw new HttpError(400, 'bad_request', 'Unknown member');
      if (body.type === 'direct') {
        if (ids.length !== 2) throw new HttpError(400, 'bad_request', 'A direct chat has two members');
        for (const c of conversations.values()) {
          if (c.type === 'direct' && ids.every((id) => isMember(c, id))) return reply(200, conversationView(c, me.id));
        }
      } else if (body.type !== 'group') throw new HttpError(400, 'bad_request', 'Unknown type');
      const c = createConversation(body.type, ids, body.name, me.id);
      announceConversation(c);
      return reply(201, conversationView(c, me.id));
    }
    const c = memberConversation(seg[1], me);
    const isAdmin = c.members.some((m) => m.userId === me.id && m.role === 'admin');
    if (seg.length === 2 && method === 'GET') return reply(200, conversationView(c, me.id));
    if (seg.length === 2 && method === 'PATCH') {
      if (!isAdmin) throw new HttpError(403, 'forbidden', 'Admins only');
      c.name = String(body.name ?? '').trim() || c.name;
      announceConversation(c);
      return reply(200, conversationView(c, me.id));
    }
    if (seg[2] === 'members' && method === 'POST') {
      if (!isAdmin || c.type !== 'group') throw new HttpError(403, 'forbidden', 'Admins only');
      for (const id of body.userIds ?? []) if (users.has(id) && !isMember(c, id)) c.members.push({ userId: id, role: 'member' });
      announceConversation(c);
      return reply(200, conversationView(c, me.id));
    }
    if (seg[2] === 'members' && method === 'DELETE') {
      const target = seg[3];
      if (target !== me.id && !isAdmin) throw new HttpError(403, 'forbidden', 'Admins only');
      c.members = c.members.filter((m) => m.userId !== target);
      if (c.members.length && !c.members.some((m) => m.role === 'admin')) c.members[0].role = 'admin';
      announceConversation(c, [target]);
      return reply(200, conversationView(c, me.id));
    }
    if (seg[2] === 'messages' && seg.length === 3 && method === 'GET') {
      const before = query.has('before') ? Number(query.get('before')) : Infinity;
      const limit = Math.min(Number(query.get('limit') ?? 50) || 50, 1000);
      const out = [];
      let i = c.bySeq.length - 1;
      while (i >= 0 && c.messages.get(c.bySeq[i]).seq >= before) i--;
      for (; i >= 0 && out.length < limit; i--) out.push(c.messages.get(c.bySeq[i]));
      const hasMore = i >= 0;
      return reply(200, { messages: out, nextCursor: hasMore && out.length ? out[out.length - 1].seq : null, hasMore });
    }
    if (seg[2] === 'messages' && seg.length === 3 && method === 'POST') {
      if (!UUID_RE.test(body.id ?? '')) throw new HttpError(400, 'invalid_id', 'id must be a UUID');
      if (isBlocked(c)) throw new HttpError(403, 'blocked', 'this conversation is blocked; nobody can send in it');
      if (!c.messages.has(body.id)) {
        const m = appendMessage(c, { id: body.id, senderId: me.id, body: String(body.body ?? '') });
        broadcast(c, { type: 'message:new', message: m });
      }
      return reply(202, { id: body.id, status: 'accepted' });
    }
    if (seg[2] === 'messages' && seg[4] === 'report' && method === 'POST') {
      if (!c.messages.has(seg[3])) throw new HttpError(404, 'not_found', 'No such message');
      const r = { id: randomUUID(), conversationId: c.id, messageId: seg[3], reporterId: me.id, reason: String(body.reason ?? '') };
      reports.push(r);
      return reply(201, { id: r.id });
    }
    if (seg[2] === 'read' && method === 'PUT') {
      updateReceipt(c, me, 0, Number(body.seq) || 0);
      return reply(204);
    }
    if (seg[2] === 'receipts' && method === 'GET') {
      const receipts = c.members.map((m) => {
        const r = c.receipts.get(m.userId) ?? { deliveredSeq: 0, readSeq: 0 };
        const hidden = m.userId !== me.id && users.get(m.userId)?.readReceipts === false;
        return { userId: m.userId, deliveredSeq: r.deliveredSeq, readSeq: hidden ? 0 : r.readSeq };
      });
      return reply(200, { receipts });
    }
  }
  throw new HttpError(404, 'not_found', `No route for ${method} ${path}`);
}

function updateReceipt(c, user, deliveredSeq, readSeq) {
  const prev = c.receipts.get(user.id) ?? { deliveredSeq: 0, readSeq: 0 };
  const r = {
    readSeq: Math.min(Math.max(prev.readSeq, readSeq), c.seq),
    deliveredSeq: Math.min(Math.max(prev.deliveredSeq, deliveredSeq, readSeq), c.seq),
  };
  if (r.readSeq === prev.readSeq && r.deliveredSeq === prev.deliveredSeq) return;
  c.receipts.set(user.id, r);
  for (const m of c.members) {
    const hide = m.userId !== user.id && !user.readReceipts;
    send(m.userId, { type: 'message:status', conversationId: c.id, userId: user.id, deliveredSeq: r.deliveredSeq, readSeq: hide ? 0 : r.readSeq });
  }
}

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.map': 'application/json', '.png': 'image/png', '.ico': 'image/x-icon' };

function serveStatic(req, res, path) {
  let file = normalize(join(DIST, decodeURIComponent(path)));
  if (!file.startsWith(DIST) || !existsSync(file) || statSync(file).isDirectory()) file = join(DIST, 'index.html');
  if (!existsSync(file)) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('web/dist not built: run npm run build');
    return;
  }
  res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', ...ISOLATION });
  createReadStream(file).pipe(res);
}

// MOCK_CROSS_ORIGIN_ISOLATED=1 (the scroll benchmark) serves the app cross-origin isolated: the
// browser then gives it 5 µs timers instead of 100 µs ones, fine enough to tell a frame interval
// of one 60 Hz vsync (16.67 ms) from a slower one.
const ISOLATION =
  process.env.MOCK_CROSS_ORIGIN_ISOLATED === '1'
    ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
    : {};

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/healthz') {
    res.writeHead(200).end('ok');
    return;
  }
  if (!url.pathname.startsWith('/api/v1/')) return serveStatic(req, res, url.pathname);
  try {
    await api(req, res, url.pathname.slice('/api/v1'.length), url.searchParams);
  } catch (err) {
    const e = err instanceof HttpError ? err : new HttpError(500, 'internal', 'Internal error');
    if (!(err instanceof HttpError)) console.error(err);
    res.writeHead(e.status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ code: e.code, message: e.message }));
  }
});

// ------------------------------------------------------------------ WebSocket

const wss = new WebSocketServer({ server, path: '/ws' });

wss.on('connection', (ws) => {
  let user = null;
  const err = (code, message, ref) => ws.send(JSON.stringify({ type: 'error', ...(ref ? { ref } : {}), code, message }));
  const authTimer = setTimeout(() => !user && ws.close(4001, 'auth timeout'), 10_000);

  ws.on('message', (data) => {
    let f;
    try {
      f = JSON.parse(String(data));
    } catch {
      return err('invalid_frame', 'Not JSON');
    }
    if (!user) {
      if (f.type !== 'auth') return err('not_authenticated', 'Send auth first');
      const a = access.get(f.token);
      if (!a) return err('invalid_token', 'Unknown token');
      if (a.exp < Date.now()) return err('token_expired', 'Access token expired');
      clearTimeout(authTimer);
      user = users.get(a.userId);
      if (!sockets.has(user.id)) sockets.set(user.id, new Set());
      sockets.get(user.id).add(ws);
      ws.send(JSON.stringify({ type: 'ready', userId: user.id }));
      const p = presence.get(user.id);
      if (!p || p.status === 'offline') setPresence(user.id, 'online');
      // tell the new device about its contacts' presence
      for (const id of contactsOf(user.id)) {
        const q = presence.get(id);
        const u = users.get(id);
        if (q && u.presencePrivacy !== 'nobody') ws.send(JSON.stringify({ type: 'presence', userId: id, status: q.status === 'invisible' ? 'offline' : q.status, lastSeen: q.lastSeen }));
      }
      return;
    }
    handle(user, ws, f, err);
  });

  ws.on('close', () => {
    clearTimeout(authTimer);
    if (!user) return;
    const set = sockets.get(user.id);
    set?.delete(ws);
    if (!set?.size) setPresence(user.id, 'offline');
  });
});

function handle(user, ws, f, err) {
  const ack = (ref) => ws.send(JSON.stringify({ type: 'ack', ref, status: 'accepted' }));
  const conv = (id, ref) => {
    const c = conversations.get(id);
    if (!c) return err('not_found', 'No such conversation', ref), null;
    if (!isMember(c, user.id)) return err('not_member', 'Not a member', ref), null;
    return c;
  };
  switch (f.type) {
    case 'ping':
      return ws.send(JSON.stringify({ type: 'pong', ...(f.ref ? { ref: f.ref } : {}) }));
    case 'message:send': {
      if (!UUID_RE.test(f.id ?? '')) return err('invalid_id', 'id must be a UUID', f.id);
      const body = typeof f.body === 'string' ? f.body : '';
      if (!body.trim() && !f.forwardFrom) return err('body_empty', 'Empty message', f.id);
      if (body.length > 100_000) return err('body_too_long', 'Message too long', f.id);
      const c = conv(f.conversationId, f.id);
      if (!c) return;
      if (c.messages.has(f.id)) return ack(f.id);
      if (isBlocked(c)) return err('blocked', 'this conversation is blocked; nobody can send in it', f.id);
      ack(f.id);
      const m = appendMessage(c, { id: f.id, senderId: user.id, body, replyTo: f.replyTo, mentions: f.mentions, forwardFrom: f.forwardFrom });
      return broadcast(c, { type: 'message:new', message: m });
    }
    case 'message:edit':
    case 'message:delete':
    case 'reaction:add':
    case 'reaction:remove': {
      if (!UUID_RE.test(f.id ?? '')) return err('invalid_id', 'id must be a UUID', f.id);
      const c = conv(f.conversationId, f.id);
      if (!c) return;
      const m = c.messages.get(f.messageId);
      if (!m) return err('not_found', 'No such message', f.id);
      if ((f.type === 'message:edit' || f.type === 'message:delete') && m.senderId !== user.id) return err('forbidden', 'Not your message', f.id);
      if (commandIds.has(f.id)) return ack(f.id);
      commandIds.add(f.id);
      ack(f.id);
      c.seq += 1;
      c.events.push({ seq: c.seq, messageId: m.id, kind: f.type });
      if (f.type === 'message:edit') {
        m.body = String(f.body ?? '');
        m.editedAt = now();
      } else if (f.type === 'message:delete') {
        m.deleted = true;
        m.body = '';
        m.reactions = [];
        return broadcast(c, { type: 'message:deleted', seq: c.seq, conversationId: c.id, messageId: m.id });
      } else {
        const r = m.reactions.find((x) => x.emoji === f.emoji);
        if (f.type === 'reaction:add') {
          if (!r) m.reactions.push({ emoji: f.emoji, userIds: [user.id] });
          else if (!r.userIds.includes(user.id)) r.userIds.push(user.id);
        } else if (r) {
          r.userIds = r.userIds.filter((u) => u !== user.id);
          if (!r.userIds.length) m.reactions = m.reactions.filter((x) => x !== r);
        }
      }
      return broadcast(c, { type: 'message:updated', seq: c.seq, message: m });
    }
    case 'message:delivered':
    case 'message:read': {
      const c = conv(f.conversationId);
      if (!c) return;
      const seq = Number(f.seq) || 0;
      return updateReceipt(c, user, seq, f.type === 'message:read' ? seq : 0);
    }
    case 'typing:start':
    case 'typing:stop': {
      const c = conv(f.conversationId);
      if (!c) return;
      for (const m of c.members) if (m.userId !== user.id) send(m.userId, { type: 'typing', conversationId: c.id, userId: user.id, state: f.type === 'typing:start' ? 'start' : 'stop' });
      return;
    }
    case 'presence:set':
      return setPresence(user.id, f.status);
    case 'sync':
      return sync(user, ws, f.cursors ?? {});
    default:
      return err('unknown_type', `Unknown frame type ${f.type}`);
  }
}

function sync(user, ws, cursors) {
  const out = (frame) => ws.send(JSON.stringify(frame));
  for (const c of conversations.values()) {
    if (!isMember(c, user.id)) continue;
    const cursor = cursors[c.id];
    if (cursor === undefined) {
      out({ type: 'conversation:updated', conversation: conversationView(c, user.id) });
      continue;
    }
    let events = c.events.filter((e) => e.seq > cursor);
    while (events.length) {
      // up to BATCH messages per batch; the batch covers every event up to its last one
      const chunk = [];
      let count = 0;
      while (events.length && (count < BATCH || events[0].kind !== 'message')) {
        const e = events.shift();
        chunk.push(e);
        if (e.kind === 'message') count++;
      }
      const lastSeq = chunk[chunk.length - 1].seq;
      const messages = chunk.filter((e) => e.kind === 'message').map((e) => c.messages.get(e.messageId));
      const updatedIds = new Set(chunk.filter((e) => e.kind !== 'message').map((e) => e.messageId));
      const updates = [...updatedIds].map((id) => c.messages.get(id)).filter((m) => m.seq <= cursor);
      out({ type: 'messages:offline', conversationId: c.id, messages, updates, hasMore: events.length > 0, lastSeq });
    }
    const r = c.receipts;
    for (const m of c.members) {
      const w = r.get(m.userId);
      if (w && m.userId !== user.id) out({ type: 'message:status', conversationId: c.id, userId: m.userId, deliveredSeq: w.deliveredSeq, readSeq: users.get(m.userId).readReceipts ? w.readSeq : 0 });
    }
  }
  out({ type: 'sync:done' });
}

// ------------------------------------------------------------------ seed

const seed = Number(process.env.SEED_MESSAGES ?? 0);
if (seed > 0) {
  const alice = createUser('alice', 'password123', 'Alice Example');
  const bob = createUser('bob', 'password123', 'Bob Example');
  const c = createConversation('direct', [alice.id, bob.id], null, alice.id);
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(' ');
  const start = Date.now() - seed * 60_000;
  for (let i = 0; i < seed; i++) {
    const len = 3 + ((i * 7919) % 60);
    const body = Array.from({ length: len }, (_, k) => words[(i + k * 13) % words.length]).join(' ') + (i % 17 === 0 ? '\nsecond line\nthird line' : '');
    const m = appendMessage(c, { id: randomUUID(), senderId: i % 3 === 0 ? bob.id : alice.id, body });
    m.createdAt = new Date(start + i * 60_000).toISOString();
  }
  c.receipts.set(alice.id, { deliveredSeq: c.seq, readSeq: c.seq });
  c.receipts.set(bob.id, { deliveredSeq: c.seq, readSeq: c.seq - 5 });
}

server.listen(PORT, HOST, () => {
  console.log(`parley mock edge on http://${HOST}:${PORT}${seed ? ` (seeded ${seed} messages, users alice/bob, password123)` : ''}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const ws of wss.clients) ws.close(1001, 'shutting down');
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
