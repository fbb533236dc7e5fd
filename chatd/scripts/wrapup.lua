-- wrapup: the adviser closes an ended conversation with its wrap-up.
-- ARGV: now, conv, caller, wrap-up json, reason no decision is needed ('')
local now, conv, caller = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if redis.call('SISMEMBER', 'staff:' .. caller .. ':wrap', conv) == 0 then
  return redis.error_reply('not_allowed')
end
-- A conversation that reached high needs a lead's decision, or the
-- adviser's reason why none is needed (ARGV[5]).
local sev = tonumber(redis.call('HGET', 'conv:' .. conv, 'sev')) or 0
if sev >= 3 and redis.call('HGET', 'case:' .. conv, 'status') ~= 'decided'
   and (ARGV[5] or '') == '' then
  return redis.error_reply('decision_needed')
end
if sev >= 3 and (ARGV[5] or '') ~= '' then
  audit(now, caller, 'adviser', 'no_decision', conv, '')
end
redis.call('HSET', 'conv:' .. conv, 'wrapup', ARGV[4], 'wrapped_at', now)
local w = cjson.decode(ARGV[4])
event('wrapped', {conv = conv, adviser = caller, outcome = w.outcome,
                  categories = table.concat(w.categories or {}, ',')})
redis.call('SREM', 'staff:' .. caller .. ':wrap', conv)
publish({t = 'staff', s = caller})
return 'ok'
