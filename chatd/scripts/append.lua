-- append: messages from parents or their conversation's adviser, in the
-- order given.  chatd sends every message of a loop turn in one call
-- (rds.c): the per-call cost of a script is paid once, the metrics are
-- counted once and the msg events go out in one PUBLISH.  A conversation
-- can have several messages in one batch (14-16 % of them in the relay
-- bench), so its state and log length are read once a batch and kept
-- here as the batch changes them.
-- ARGV: 8 per message: now, conv, from (parent|adviser), cid, sealed text
--       (raw bytes), triage json, message severity, caller (adviser name,
--       '' for the parent)
-- Returns one reply per message, in order: {seq, duplicate, conversation
-- severity}, or the error not_allowed for that message alone.
local ARGS_PER_MSG = 8
local out, pub, counts, seen = {}, {}, {}, {}
for i = 1, #ARGV - ARGS_PER_MSG + 1, ARGS_PER_MSG do
  local conv, from, cid = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local tri, caller = ARGV[i + 5], ARGV[i + 7]
  local key = 'conv:' .. conv
  local st = seen[conv]
  if not st then -- {state, sev, adviser, queued_at, log length or nil}
    st = redis.call('HMGET', key, 'state', 'sev', 'adviser', 'queued_at')
    seen[conv] = st
  end
  local open
  if from == 'parent' then
    open = st[1] == 'queued' or st[1] == 'chatting'
  else
    open = st[1] == 'chatting' and st[3] == caller
  end
  if not open then
    out[#out + 1] = {err = 'not_allowed'}
  else
    local seq, dup = append(conv, from, cid, ARGV[i], ARGV[i + 4], tri, pub,
                            st[5])
    if dup == 0 then st[5] = seq end
    local csev, sev = tonumber(st[2]) or 0, tonumber(ARGV[i + 6])
    if dup == 0 then count_message(from, tri, counts) end
    -- Severity latches at the highest seen; a waiting parent moves up at
    -- once.
    if dup == 0 and from == 'parent' and sev > csev then
      local now = tonumber(ARGV[i])
      -- The events so far go first, so every event keeps its order.
      if #pub > 0 then
        redis.call('PUBLISH', EV, table.concat(pub, '\n'))
        pub = {}
      end
      alert_if_high(conv, csev, sev, tri, now)
      csev = sev
      redis.call('HSET', key, 'sev', sev)
      st[2] = sev
      if st[1] == 'queued' then
        redis.call('ZADD', 'queue', 'XX', score(sev, tonumber(st[4]) or now),
                   conv)
        queue_changed()
      end
    end
    out[#out + 1] = {seq, dup, csev}
  end
end
count_flush(counts)
if #pub > 0 then redis.call('PUBLISH', EV, table.concat(pub, '\n')) end
return out
