-- decide: a lead records the decision on a conversation's case.
-- ARGV: now, conv, lead, decision, sealed note, reference
local now, conv, lead = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local k = 'case:' .. conv
if redis.call('EXISTS', k) == 0 then
  -- A lead may decide on a conversation nobody escalated (e.g. observed).
  if redis.call('EXISTS', 'conv:' .. conv) == 0 then
    return redis.error_reply('not_allowed')
  end
  open_case(conv, now, tonumber(redis.call('HGET', 'conv:' .. conv, 'sev')) or 0,
            '', lead, '')
end
redis.call('HSET', k, 'status', 'decided', 'decision', ARGV[4],
           'decision_note', ARGV[5], 'reference', ARGV[6],
           'decided_by', lead, 'decided_at', now)
event('decided', {conv = conv, decision = ARGV[4]})
audit(now, lead, 'lead', 'decide', conv, ARGV[4])
publish({t = 'case', c = conv, status = 'decided', decision = ARGV[4]})
return 'decided'
