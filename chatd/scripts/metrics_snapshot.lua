-- metrics_snapshot: everything GET /metrics shows, in one round trip.
-- Read only (no writes, no events).  ARGV: none.
-- Returns {queued sev 0, 1, 2, 3, 4, advisers available, active chats,
--          {field, value, ...} of the metrics hash}
-- Queue: ZCOUNT per severity band of the queue score (lib.lua's score()).
-- Active chats: the sum of staff:<n> active over the staff seen recently
-- (seen:s), which covers available and busy advisers alike.
local out = {}
for sev = 0, 4 do
  local lo = (4 - sev) * SEV_BAND
  out[#out + 1] = redis.call('ZCOUNT', 'queue', string.format('%d', lo),
                             string.format('(%d', lo + SEV_BAND))
end
out[#out + 1] = redis.call('ZCARD', 'advisers')
local active = 0
for _, name in ipairs(redis.call('ZRANGE', 'seen:s', 0, -1)) do
  local a = tonumber(redis.call('HGET', 'staff:' .. name, 'active')) or 0
  if a > 0 then active = active + a end
end
out[#out + 1] = active
out[#out + 1] = redis.call('HGETALL', 'metrics')
return out
