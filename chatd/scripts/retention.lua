-- retention: delete conversations ended more than retention ago, unless a
-- lead holds them.  Deleting the hash destroys the wrapped conversation key,
-- so anything sealed with it that survives anywhere is unreadable
-- (crypto-shredding); the text-free events stay for the figures.
-- ARGV: now, retention ms, batch size.  Returns conversations deleted.
local now, keep, batch = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local cutoff = now - keep
local n = 0
local function delete(c)
  redis.call('DEL', 'conv:' .. c, 'conv:' .. c .. ':log', 'conv:' .. c .. ':ids',
             'conv:' .. c .. ':whisper')
  redis.call('HDEL', 'case:' .. c, 'note', 'decision_note')
  event('deleted', {conv = c})
  n = n + 1
end
for _, c in ipairs(redis.call('ZRANGEBYSCORE', 'ended', '-inf', cutoff,
                              'LIMIT', 0, batch)) do
  redis.call('ZREM', 'ended', c)
  if redis.call('HGET', 'conv:' .. c, 'hold') == '1' then
    redis.call('SADD', 'held', c)
  else
    delete(c)
  end
end
-- A released hold: the conversation goes as soon as it is past retention.
for _, c in ipairs(redis.call('SMEMBERS', 'held')) do
  local h = redis.call('HMGET', 'conv:' .. c, 'hold', 'ended_at')
  if h[1] ~= '1' then
    redis.call('SREM', 'held', c)
    if (tonumber(h[2]) or 0) < cutoff then delete(c) else
      redis.call('ZADD', 'ended', tonumber(h[2]) or now, c)
    end
  end
end
return n
