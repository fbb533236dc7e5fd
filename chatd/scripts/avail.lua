-- avail: an adviser goes available or unavailable.
-- ARGV: now, name, available 0/1, capacity (0 keeps the current one),
--       default capacity
local now, name, avail = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local k = 'staff:' .. name
if cap == 0 then cap = tonumber(redis.call('HGET', k, 'capacity')) or tonumber(ARGV[5]) end
redis.call('HSET', k, 'available', avail, 'capacity', cap)
if avail == 1 then
  if not redis.call('ZSCORE', 'advisers', name) then
    redis.call('ZADD', 'advisers', now, name)
  end
else
  redis.call('ZREM', 'advisers', name)
end
redis.call('ZADD', 'seen:s', now, name)
queue_changed() -- the number on shift feeds every wait estimate
pair_all(now)
local active = tonumber(redis.call('HGET', k, 'active')) or 0
return {avail, cap, active}
