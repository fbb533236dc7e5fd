-- append: a message from the parent or the conversation's adviser.
-- ARGV: now, conv, from (parent|adviser), cid, sealed text, triage json,
--       message severity, caller (adviser name, '' for the parent)
-- Returns {seq, duplicate, conversation severity}.
local now, conv, from, cid = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local sev, caller = tonumber(ARGV[7]), ARGV[8]
local key = 'conv:' .. conv
local st = redis.call('HMGET', key, 'state', 'sev', 'adviser', 'queued_at')
if from == 'parent' then
  if st[1] ~= 'queued' and st[1] ~= 'chatting' then
    return redis.error_reply('not_allowed')
  end
elseif st[1] ~= 'chatting' or st[3] ~= caller then
  return redis.error_reply('not_allowed')
end
local seq, dup = append(conv, from, cid, now, ARGV[5], ARGV[6])
local csev = tonumber(st[2]) or 0
if dup == 0 then count_message(from, ARGV[6]) end
-- Severity latches at the highest seen; a waiting parent moves up at once.
if dup == 0 and from == 'parent' and sev > csev then
  alert_if_high(conv, csev, sev, ARGV[6], now)
  csev = sev
  redis.call('HSET', key, 'sev', sev)
  if st[1] == 'queued' then
    redis.call('ZADD', 'queue', 'XX', score(sev, tonumber(st[4]) or now), conv)
    queue_changed()
  end
end
return {seq, dup, csev}
