-- escalate: the adviser escalates their conversation to the leads.
-- ARGV: now, conv, caller (adviser), severity 2-4, sealed note
-- Returns the case status.
local now, conv, caller, sev = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = 'conv:' .. conv
local st = redis.call('HMGET', key, 'state', 'adviser', 'sev', 'queued_at')
if st[2] ~= caller or (st[1] ~= 'chatting' and st[1] ~= 'ended') then
  return redis.error_reply('not_allowed')
end
local csev = tonumber(st[3]) or 0
if sev > csev then redis.call('HSET', key, 'sev', sev) end
local status = open_case(conv, now, math.max(sev, csev), '', caller, ARGV[5])
publish({t = 'alert', c = conv, sev = math.max(sev, csev), tri = '', by = caller})
publish({t = 'case', c = conv, status = status})
return status
