-- One presence change for one user, atomically. Every worker instance runs this same script, so
-- the read-modify-write of the user's state is serialised by Redis and a transition of the
-- shown status is reported to exactly one caller.
--
-- KEYS[1] conns  ZSET connection id -> expiry (ms, Redis clock)
-- KEYS[2] state  HASH chosen, chosen_by, chosen_at, shown, last_seen, version
-- KEYS[3] gone   ZSET connection id -> tombstone expiry (ms): recently disconnected connections
-- KEYS[4] due    ZSET user id -> earliest connection expiry (ms), read by the sweepers
-- ARGV: mode (connect|heartbeat|set|disconnect|sweep), user, connection, ttl_ms, status,
--       at_ms (edge clock), tombstone_ms
-- Returns {changed 0|1, shown, last_seen ms or '', now ms, version}.

-- Redis' clock, not the workers': expiries written by one instance are compared by another.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local mode, user, conn = ARGV[1], ARGV[2], ARGV[3]
local ttl = tonumber(ARGV[4]) or 0
local status = ARGV[5]
local at = tonumber(ARGV[6]) or now
local tombstone = tonumber(ARGV[7]) or 60000
if at > now then at = now end

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)

if mode == 'disconnect' then
  redis.call('ZREM', KEYS[1], conn)
  -- Commands of one connection may be handled out of order (queue group, concurrent tasks):
  -- a heartbeat overtaken by its disconnect must not bring the connection back.
  redis.call('ZADD', KEYS[3], now + tombstone, conn)
  redis.call('PEXPIRE', KEYS[3], tombstone)
elseif mode == 'connect' or mode == 'heartbeat' or mode == 'set' then
  if not redis.call('ZSCORE', KEYS[3], conn) then
    redis.call('ZADD', KEYS[1], now + ttl, conn)
  end
  if mode == 'set' then
    -- Within one connection the edge's clock orders its choices; across connections the
    -- later arrival wins (edges' clocks are not comparable).
    local by = redis.call('HGET', KEYS[2], 'chosen_by')
    local prev_at = tonumber(redis.call('HGET', KEYS[2], 'chosen_at') or '0')
    if by ~= conn or at >= prev_at then
      redis.call('HSET', KEYS[2], 'chosen', status, 'chosen_by', conn, 'chosen_at', at)
    end
  end
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
if live > 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[4], first[2], user)
  -- A safety net only: the sweep removes expired connections long before this.
  redis.call('PEXPIRE', KEYS[1], tonumber(last[2]) - now + 60000)
else
  redis.call('ZREM', KEYS[4], user)
end

local chosen = redis.call('HGET', KEYS[2], 'chosen') or 'online'
local shown = 'offline'
if live > 0 and chosen ~= 'invisible' then shown = chosen end

local prev = redis.call('HGET', KEYS[2], 'shown') or 'offline'
local last_seen = redis.call('HGET', KEYS[2], 'last_seen') or ''
local version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
if shown == prev then
  return {0, shown, last_seen, now, version}
end
if shown == 'offline' then
  last_seen = tostring(now)
  redis.call('HSET', KEYS[2], 'last_seen', last_seen)
end
redis.call('HSET', KEYS[2], 'shown', shown)
version = redis.call('HINCRBY', KEYS[2], 'version', 1)
return {1, shown, last_seen, now, version}
