-- end: the parent or the adviser ends a conversation.
-- ARGV: now, conv, by (parent|adviser|system), reason, caller,
--       return code digest, sealed return code, its ttl s ('' for none)
local now, conv, by, reason, caller = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = 'conv:' .. conv
local st = redis.call('HMGET', key, 'state', 'adviser', 'paired_at', 'queued_at', 'sev')
if st[1] ~= 'queued' and st[1] ~= 'chatting' then
  return redis.error_reply('not_allowed')
end
if by == 'adviser' and (st[1] ~= 'chatting' or st[2] ~= caller) then
  return redis.error_reply('not_allowed')
end
if st[1] == 'queued' then
  wait_hist('abandon', now - (tonumber(st[4]) or now))
  event('abandoned', {conv = conv, sev = st[5] or 0, by = by,
                      wait_ms = now - (tonumber(st[4]) or now)})
  redis.call('ZREM', 'queue', conv)
  queue_changed()
elseif st[2] and st[2] ~= '' then
  local adv = st[2]
  redis.call('SREM', 'staff:' .. adv .. ':convs', conv)
  redis.call('SADD', 'staff:' .. adv .. ':wrap', conv)
  redis.call('HINCRBY', 'staff:' .. adv, 'active', -1)
  redis.call('ZADD', 'advisers', 'XX', now, adv)
  -- Rolling mean of chat length over about the last 20 chats, for ETAs.
  local len = now - (tonumber(st[3]) or now)
  event('ended', {conv = conv, adviser = adv, sev = st[5] or 0, by = by,
                  reason = reason, handle_ms = len})
  local s = redis.call('HMGET', 'stats', 'chat_avg_ms', 'chats')
  local n = math.min((tonumber(s[2]) or 0) + 1, 20)
  local avg = tonumber(s[1]) or len
  avg = avg + (len - avg) / n
  redis.call('HSET', 'stats', 'chat_avg_ms', string.format('%d', avg), 'chats', n)
  publish({t = 'staff', s = adv})
  -- One key person: the parent may come back to this adviser.
  if (ARGV[6] or '') ~= '' then
    redis.call('SET', 'ret:' .. ARGV[6], adv .. '|' .. conv, 'EX', ARGV[8])
    redis.call('HSET', key, 'return_ct', ARGV[7])
  end
end
redis.call('HSET', key, 'state', 'ended', 'ended_by', by, 'reason', reason,
           'ended_at', now)
redis.call('ZREM', 'seen:p', conv)
ended_at(conv, now)
publish({t = 'state', c = conv})
pair_all(now)
return 'ok'
