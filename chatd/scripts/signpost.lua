-- signpost: the adviser sends the parent a service card.
-- ARGV: now, conv, caller, service id, sealed card
local now, conv, caller = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local st = redis.call('HMGET', 'conv:' .. conv, 'state', 'adviser')
if st[1] ~= 'chatting' or st[2] ~= caller then
  return redis.error_reply('not_allowed')
end
local seq = append(conv, 'signpost', '', now, ARGV[5], '')
event('signposted', {conv = conv, service = ARGV[4], adviser = caller})
return tostring(seq)
