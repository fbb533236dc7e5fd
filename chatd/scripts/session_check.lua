-- session_check: is an open console's session still live?  Run for every
-- staff socket on each heartbeat (session.c).  Follows `next` links left
-- by rotation (session.lua), so the console moves to the new session
-- before the old one's overlap runs out; an open console counts as use,
-- so its session does not go idle, but the absolute limit still holds.
-- ARGV: digest, now ms, idle ms, ttl ms.
-- Returns 0 when gone (the console is closed), 1 when live, or the digest
-- of the session it was replaced by.
local SESSION_HOPS = 8 -- rotations followed at once
local now, idle, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local d = ARGV[1]
for _ = 1, SESSION_HOPS do
  local k = 'sess:' .. d
  local s = redis.call('HMGET', k, 'name', 'next', 'born')
  if not s[1] then return 0 end
  if not s[2] then
    local born = tonumber(s[3])
    if born then -- (a session from before rotation keeps its own TTL)
      local left = born + ttl - now
      if left <= 0 then
        redis.call('DEL', k)
        return 0
      end
      redis.call('PEXPIRE', k, math.min(idle, left))
    end
    if d == ARGV[1] then return 1 end
    return d
  end
  d = s[2]
end
return 0
