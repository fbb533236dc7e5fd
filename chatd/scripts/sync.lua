-- sync: what conv_sync rebuilds a client's view of a conversation from.
-- ARGV: conv, then the names of the conv:<id> fields wanted, in order.
-- Returns their values (nil for a missing one), but the field named seq,
-- which is the last seq stored: the log's length (see lib.lua's keys).
local key = 'conv:' .. ARGV[1]
local out = redis.call('HMGET', key, unpack(ARGV, 2))
for i = 2, #ARGV do
  if ARGV[i] == 'seq' then
    out[i - 1] = tostring(redis.call('XLEN', key .. ':log'))
  end
end
return out
