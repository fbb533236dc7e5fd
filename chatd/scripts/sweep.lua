-- sweep: parents and advisers whose heartbeats stopped more than grace ago.
-- Every chatd runs it on a timer; it is idempotent.
-- ARGV: now, grace_ms, parent_timeout_ms
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local cutoff = now - grace
local changed = false
-- Parents gone past grace: a waiting one loses their place; a chatting
-- one is reported away to the adviser, and after parent_timeout the chat
-- ends (they may have closed the tab, or left in a hurry while offline).
local timeout = tonumber(ARGV[3]) or grace
local parents = redis.call('ZRANGEBYSCORE', 'seen:p', '-inf', cutoff,
                           'WITHSCORES')
for i = 1, #parents, 2 do
  local conv, seen = parents[i], tonumber(parents[i + 1])
  local key = 'conv:' .. conv
  local st = redis.call('HMGET', key, 'state', 'parent_away')
  if st[1] == 'queued' then
    end_conv(conv, now, 'system', 'abandoned', nil)
    changed = true
  elseif st[1] == 'chatting' and seen < now - timeout then
    end_conv(conv, now, 'system', 'disconnected', nil)
  elseif st[1] == 'chatting' then
    if not st[2] then
      redis.call('HSET', key, 'parent_away', now)
      publish({t = 'away', c = conv})
    end
  else
    redis.call('ZREM', 'seen:p', conv)
  end
end
local staff = redis.call('ZRANGEBYSCORE', 'seen:s', '-inf', cutoff)
for _, name in ipairs(staff) do
  redis.call('ZREM', 'seen:s', name)
  redis.call('ZREM', 'advisers', name)
  redis.call('HSET', 'staff:' .. name, 'available', 0, 'active', 0)
  -- Their parents go back to the front of the queue (within severity).
  for _, conv in ipairs(redis.call('SMEMBERS', 'staff:' .. name .. ':convs')) do
    local key = 'conv:' .. conv
    local st = redis.call('HMGET', key, 'state', 'adviser', 'sev')
    if st[1] == 'chatting' and st[2] == name then
      redis.call('HSET', key, 'state', 'queued', 'adviser', '', 'requeued', now)
      redis.call('ZADD', 'queue', score(tonumber(st[3]) or 0, 0), conv)
      publish({t = 'state', c = conv})
      changed = true
    end
  end
  redis.call('DEL', 'staff:' .. name .. ':convs')
  publish({t = 'staff', s = name})
end
if changed then queue_changed() end
pair_all(now)
return {#parents / 2, #staff}
