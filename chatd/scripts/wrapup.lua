-- wrapup: the adviser closes an ended conversation with its wrap-up.
-- ARGV: now, conv, caller, wrap-up json
local now, conv, caller = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if redis.call('SISMEMBER', 'staff:' .. caller .. ':wrap', conv) == 0 then
  return redis.error_reply('not_allowed')
end
redis.call('HSET', 'conv:' .. conv, 'wrapup', ARGV[4], 'wrapped_at', now)
local w = cjson.decode(ARGV[4])
event('wrapped', {conv = conv, adviser = caller, outcome = w.outcome,
                  categories = table.concat(w.categories or {}, ',')})
redis.call('SREM', 'staff:' .. caller .. ':wrap', conv)
publish({t = 'staff', s = caller})
return 'ok'
