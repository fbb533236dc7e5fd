-- whisper: a lead's words to the conversation's adviser; never stored in
-- the parent's stream and never sent to the parent.
-- ARGV: now, conv, lead, sealed text
local now, conv = tonumber(ARGV[1]), ARGV[2]
if redis.call('EXISTS', 'conv:' .. conv) == 0 then
  return redis.error_reply('not_allowed')
end
local id = redis.call('XADD', 'conv:' .. conv .. ':whisper', '*', 'from', ARGV[3],
                      'ts', now, 'ct', ARGV[4])
publish({t = 'whisper', c = conv, from = ARGV[3], ts = now, ct = ARGV[4]})
return id
