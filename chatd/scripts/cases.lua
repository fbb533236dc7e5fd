-- cases: every case with what a lead's list needs, and the audit entry.
-- ARGV: now, lead, role, conv ('' for the list, or one case)
-- Returns a flat list: for each case, its HGETALL as one array, plus the
-- conversation's wrapped key (to open the sealed notes) and adviser.
local now, who, role, one = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local convs = {}
if one ~= '' then
  if redis.call('EXISTS', 'case:' .. one) == 0 then
    return redis.error_reply('not_allowed')
  end
  convs = {one}
  audit(now, who, role, 'read_case', one, '')
else
  convs = redis.call('ZREVRANGE', 'cases', 0, 199)
  audit(now, who, role, 'list_cases', '', tostring(#convs))
end
local out = {}
for _, c in ipairs(convs) do
  local h = redis.call('HGETALL', 'case:' .. c)
  h[#h + 1] = 'key'
  h[#h + 1] = redis.call('HGET', 'conv:' .. c, 'key') or ''
  h[#h + 1] = 'state'
  h[#h + 1] = redis.call('HGET', 'conv:' .. c, 'state') or 'deleted'
  out[#out + 1] = h
end
return out
