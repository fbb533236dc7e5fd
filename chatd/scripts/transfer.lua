-- transfer: the adviser hands the chat on, with a note for the next one.
-- ARGV: now, conv, caller, sealed note, sealed system message to the parent
local now, conv, caller = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local key = 'conv:' .. conv
local st = redis.call('HMGET', key, 'state', 'adviser', 'sev')
if st[1] ~= 'chatting' or st[2] ~= caller then
  return redis.error_reply('not_allowed')
end
redis.call('SREM', 'staff:' .. caller .. ':convs', conv)
redis.call('HINCRBY', 'staff:' .. caller, 'active', -1)
redis.call('ZADD', 'advisers', 'XX', now, caller)
redis.call('HSET', key, 'state', 'queued', 'adviser', '', 'avoid', caller,
           'transfer_from', caller, 'transfer_note', ARGV[4])
-- The parent is told why, in their own conversation.
append(conv, 'system', '', now, ARGV[5], '')
-- Front of the queue within their severity: they were already being helped.
redis.call('ZADD', 'queue', score(tonumber(st[3]) or 0, 0), conv)
event('transferred', {conv = conv, adviser = caller})
publish({t = 'state', c = conv})
publish({t = 'staff', s = caller})
queue_changed()
pair_all(now)
return 'ok'
