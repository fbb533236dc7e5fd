-- end: the parent or the adviser ends a conversation.
-- ARGV: now, conv, by (parent|adviser|system), reason, caller,
--       return code digest, sealed return code, its ttl s ('' for none)
local now, conv, by, caller = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[5]
local st = redis.call('HMGET', 'conv:' .. conv, 'state', 'adviser')
if st[1] ~= 'queued' and st[1] ~= 'chatting' then
  return redis.error_reply('not_allowed')
end
if by == 'adviser' and (st[1] ~= 'chatting' or st[2] ~= caller) then
  return redis.error_reply('not_allowed')
end
end_conv(conv, now, by, ARGV[4], {ARGV[6] or '', ARGV[7] or '', ARGV[8]})
pair_all(now)
return 'ok'
