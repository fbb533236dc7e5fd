-- resume: a parent's hello with a resume token.
-- ARGV: resume digest, ttl s, now.  Returns {conv, state} or nil.
local conv = redis.call('GET', 'resume:' .. ARGV[1])
if not conv then return nil end
local state = redis.call('HGET', 'conv:' .. conv, 'state')
if not state then return nil end
redis.call('EXPIRE', 'resume:' .. ARGV[1], ARGV[2])
if state == 'queued' or state == 'chatting' then
  redis.call('ZADD', 'seen:p', ARGV[3], conv)
  if redis.call('HDEL', 'conv:' .. conv, 'parent_away') == 1 then
    publish({t = 'back', c = conv})
  end
end
return {conv, state}
