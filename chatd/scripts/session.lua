-- session: a staff session used by an HTTP request (auth.c).  Checks the
-- absolute limit (born + ttl) and the idle limit (the key's TTL, renewed
-- here), and replaces a token older than `rotate` by `fresh`: the old key
-- gets `next` and lives on only `overlap` ms, for requests already on
-- their way and for open consoles to follow (session_check.lua).  A token
-- already replaced is still good during the overlap but is never renewed
-- or replaced again (one successor each, so a stolen copy cannot fork).
-- ARGV: digest, now ms, idle ms, ttl ms, rotate ms, overlap ms, fresh
-- digest ('' never rotates).
-- Returns nil when not a live session, else {name, role, fresh digest if
-- rotated else '', ms of absolute life left}.
local k = 'sess:' .. ARGV[1]
local now, idle, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local rotate, overlap, fresh = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local s = redis.call('HMGET', k, 'name', 'role', 'born', 'issued', 'next')
if not s[1] or not s[2] then return nil end
local born = tonumber(s[3])
if not born then
  -- A session from before rotation existed: its TTL ran from login.
  local pttl = math.max(redis.call('PTTL', k), 0)
  born = now - math.max(ttl - pttl, 0)
  redis.call('HSET', k, 'born', born, 'issued', born)
end
local issued = tonumber(s[4]) or born
local left = born + ttl - now
if left <= 0 then
  redis.call('DEL', k)
  return nil
end
if s[5] then return {s[1], s[2], '', left} end
local life = math.min(idle, left)
if fresh ~= '' and now - issued >= rotate then
  local nk = 'sess:' .. fresh
  redis.call('HSET', nk, 'name', s[1], 'role', s[2], 'born', born,
             'issued', now, 'prev', ARGV[1])
  redis.call('PEXPIRE', nk, life)
  redis.call('HSET', k, 'next', fresh)
  redis.call('PEXPIRE', k, math.min(overlap, life))
  local us = 'usess:' .. s[1]
  redis.call('SADD', us, fresh)
  -- Forget expired sessions here, so usess stays the size of what is live.
  for _, d in ipairs(redis.call('SMEMBERS', us)) do
    if redis.call('EXISTS', 'sess:' .. d) == 0 then
      redis.call('SREM', us, d)
    end
  end
  return {s[1], s[2], fresh, left}
end
redis.call('PEXPIRE', k, life)
return {s[1], s[2], '', left}
