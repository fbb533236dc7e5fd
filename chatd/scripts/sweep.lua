-- sweep: parents and advisers whose heartbeats stopped more than grace ago.
-- Every chatd runs it on a timer; it is idempotent.
-- ARGV: now, grace_ms
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local cutoff = now - grace
local changed = false
local parents = redis.call('ZRANGEBYSCORE', 'seen:p', '-inf', cutoff)
for _, conv in ipairs(parents) do
  redis.call('ZREM', 'seen:p', conv)
  local key = 'conv:' .. conv
  local st = redis.call('HMGET', key, 'state', 'queued_at', 'sev')
  if st[1] == 'queued' then
    wait_hist('abandon', now - (tonumber(st[2]) or now))
    event('abandoned', {conv = conv, sev = st[3] or 0, by = 'system',
                        wait_ms = now - (tonumber(st[2]) or now)})
    redis.call('ZREM', 'queue', conv)
    redis.call('HSET', key, 'state', 'ended', 'ended_by', 'system',
               'reason', 'abandoned', 'ended_at', now)
    ended_at(conv, now)
    publish({t = 'state', c = conv})
    changed = true
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
return {#parents, #staff}
