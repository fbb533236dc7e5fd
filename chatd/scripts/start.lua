-- start: a parent joins the queue.
-- ARGV: now, conv, sev, topic, area, wrapped key, resume digest,
--       resume ttl s, opening cid ('' if none), sealed text, triage json,
--       return code digest (''), continuity wait ms
local now, conv, sev = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local key = 'conv:' .. conv
if redis.call('EXISTS', key) == 1 then return redis.error_reply('exists') end
redis.call('HSET', key, 'state', 'queued', 'sev', sev, 'created', now,
           'queued_at', now, 'topic', ARGV[4], 'area', ARGV[5],
           'key', ARGV[6])
redis.call('SET', 'resume:' .. ARGV[7], conv, 'EX', ARGV[8])
-- A returning parent: wait a while for the same adviser (continuity).
if (ARGV[12] or '') ~= '' then
  local r = redis.call('GET', 'ret:' .. ARGV[12])
  if r then
    local adv, prev = string.match(r, '^(.-)|(.*)$')
    redis.call('HSET', key, 'returning', 1, 'prev_conv', prev, 'want', adv,
               'want_until', now + (tonumber(ARGV[13]) or 0))
  end
end
if ARGV[9] ~= '' then
  append(conv, 'parent', ARGV[9], now, ARGV[10], ARGV[11])
  count_message('parent', ARGV[11])
end
event('offered', {conv = conv, sev = sev})
alert_if_high(conv, 0, sev, ARGV[11], now)
redis.call('ZADD', 'queue', score(sev, now), conv)
redis.call('ZADD', 'seen:p', now, conv)
queue_changed()
pair_all(now)
local rank = redis.call('ZRANK', 'queue', conv)
if rank then return rank + 1 end
return 0
