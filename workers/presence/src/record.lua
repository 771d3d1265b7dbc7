-- After a presence event was stored in EVENTS: remember which transition the user's latest
-- event (highest stream sequence) describes. Two instances publishing transitions of one user
-- at the same moment may have them stored in the opposite order; then the latest event in the
-- stream is older than one already published, and the current state is returned so that the
-- caller publishes it again. The script is atomic, so only one caller sees each such crossing.
--
-- KEYS[1] published  HASH seq, version (of the event with the highest seq), max (version)
-- KEYS[2] state      the user's state (see apply.lua)
-- ARGV: stream sequence, transition version, ttl_ms
-- Returns {stale 0|1, shown, last_seen ms or '', now ms, version}.

local seq, ver, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local last_seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local last_ver = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local max_ver = tonumber(redis.call('HGET', KEYS[1], 'max') or '0')
if seq > last_seq then
  last_seq, last_ver = seq, ver
  redis.call('HSET', KEYS[1], 'seq', seq, 'version', ver)
end
if ver > max_ver then
  max_ver = ver
  redis.call('HSET', KEYS[1], 'max', ver)
end
redis.call('PEXPIRE', KEYS[1], ttl)
if last_ver >= max_ver then
  return {0, '', '', 0, 0}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local shown = redis.call('HGET', KEYS[2], 'shown') or 'offline'
local last_seen = redis.call('HGET', KEYS[2], 'last_seen') or ''
local version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
return {1, shown, last_seen, now, version}
