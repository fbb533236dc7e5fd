-- lib.lua: shared by every script (tools/embed-lua.sh prepends it).
-- Keys (no KEYS[] is passed; chatd runs on standalone Redis):
--   conv:<id>         hash: state queued|chatting|ended, sev 0-4, adviser,
--                     key (wrapped), created, queued_at, paired_at, ...
--   conv:<id>:log     stream, entry id 0-<seq>: f, ts, ct (sealed, raw
--                     bytes: chatd/crypto.h), id, tri;
--                     seq runs 1, 2, 3 ... without gaps and no entry is ever
--                     deleted alone, so the stream's length is the last seq
--                     (triage JSON; '' for a parent's message where triage
--                     found nothing, see wire_triage_stored, and for others)
--   conv:<id>:ids     hash "<from>:<client id>" -> seq (dedupe), and the
--                     field '' (IDS_TABLE_PAD, see append)
--   queue             zset conv -> (4 - sev) * SEV_BAND + joined_ms
--   advisers          zset of available advisers -> idle since (ms)
--   staff:<n>         hash: available, capacity, active
--   staff:<n>:convs   set of chats in progress; staff:<n>:wrap awaiting wrap-up
--   seen:p, seen:s    zset conv / adviser -> last heartbeat (ms)
--   resume:<digest>   conv id of a parent's session
--   stats             hash: chat_avg_ms, chats
--   events            stream of what happened, for reports: t (offered,
--                     answered, abandoned, ended, wrapped, ...), conv,
--                     sev, wait_ms, handle_ms, outcome, categories... never
--                     message text; trimmed by trim.lua to events_keep_days
--                     and events_max_entries
--   metrics           hash of counters: messages, triage:<category>
--   case:<conv>       hash: a safeguarding case (one per conversation):
--                     status open|acknowledged|decided, sev, categories,
--                     adviser, opened_at, opened_by, note (sealed),
--                     decision, decision_note (sealed), reference, ...
--   cases             zset conv -> opened_at, every case
--   audit             stream: who, role, action, conv, detail (append-only;
--                     trim.lua drops entries older than audit_keep_days, or
--                     the retention if longer; never by count)
--   sess:<digest>     staff session (auth.c, session*.lua, logout.lua): name,
--                     role, born/issued (ms), next/prev (rotation links);
--                     TTL = idle left, never past born + session_ttl_s
--   usess:<name>      set of a user's session digests; loginfail:<name> the
--                     name's failed-login ceiling (login_lockout_s window)
-- Events go to one channel as JSON (but `msg`, see append); every chatd
-- filters what is local.  One PUBLISH may carry several events, one a line
-- (append.lua publishes a batch's msg events together; rds.c splits them).
local EV = 'chatd:ev'
local SEV_BAND = 10000000000000 -- 1e13 ms: severity outranks any wait
-- A value longer than hash-max-listpack-value (64 bytes by default) makes
-- Redis keep a hash as a hash table from the start.  Without it a
-- conversation's dedupe hash is a listpack that HSETNX scans from the
-- front until hash-max-listpack-entries (Debian: 512), every message
-- paying for every earlier one: 4.4 us a call in the relay bench against
-- 2.7 as a table.  A table costs Redis about 58 more bytes a message; RDB
-- and AOF loading keep a hash with a long value a table.
local IDS_TABLE_PAD = string.rep('-', 65)

local function publish(t)
  redis.call('PUBLISH', EV, cjson.encode(t))
end

-- One event for the service's figures (docs/reports.md).  Flat fields.
local function event(t, fields)
  local args = {'XADD', 'events', '*', 't', t}
  for k, v in pairs(fields) do
    args[#args + 1] = k
    args[#args + 1] = tostring(v)
  end
  redis.call(unpack(args))
end

local function score(sev, t)
  return string.format('%d', (4 - sev) * SEV_BAND + t)
end

-- Append one entry to a conversation; returns seq, duplicate (0/1).
-- now may be the caller's ARGV string (no number formatting then).  With
-- pub (a table), the msg event is added to it for the caller to publish
-- with the others of its batch (one PUBLISH, lines joined by '\n': the
-- one field of a msg event that can hold a newline is length-prefixed,
-- see chatd/wire.h); without, it is published here.  len, when given, is
-- the log's length as the caller knows it (append.lua counts a batch's
-- entries per conversation): no XLEN then.
local function append(conv, from, cid, now, ct, tri, pub, len)
  local key = 'conv:' .. conv
  -- The next seq is read, not counted: XLEN is a read, which Redis does
  -- not write to the AOF, where a counter was one more logged write per
  -- message (48 AOF bytes and about 1 us of Redis a message).
  local seq = (len or redis.call('XLEN', key .. ':log')) + 1
  local s = string.format('%d', seq) -- formatted once, used three times
  -- No field of a client's is '': from is never empty.
  if seq == 1 then redis.call('HSET', key .. ':ids', '', IDS_TABLE_PAD) end
  -- The dedupe entry is claimed before the entry is added: a resend finds
  -- it taken and adds nothing, so seq stays without gaps.
  if cid ~= '' and
     redis.call('HSETNX', key .. ':ids', from .. ':' .. cid, s) == 0 then
    return tonumber(redis.call('HGET', key .. ':ids', from .. ':' .. cid)), 1
  end
  redis.call('XADD', key .. ':log', '0-' .. s, 'f', from, 'ts', now,
             'ct', ct, 'id', cid, 'tri', tri)
  -- Not JSON: every chatd reads this one per message, so its fields are
  -- plain, the sealed text (raw bytes) and the client id (any printable
  -- ASCII) length-prefixed; the triage JSON is the rest (chatd/wire.h).
  local ev = table.concat({'m', conv, s, from, now, #ct, ct, #cid,
                           cid .. '|' .. tri}, '|')
  if pub then
    pub[#pub + 1] = ev
  else
    redis.call('PUBLISH', EV, ev)
  end
  return seq, 0
end

-- Advisers who can take a chat now: {name, active, idle}, in zset order.
local function free_advisers()
  local free = {}
  local advs = redis.call('ZRANGE', 'advisers', 0, -1, 'WITHSCORES')
  for i = 1, #advs, 2 do
    local h = redis.call('HMGET', 'staff:' .. advs[i], 'active', 'capacity')
    local active, cap = tonumber(h[1]) or 0, tonumber(h[2]) or 0
    if active < cap then
      free[#free + 1] = {name = advs[i], active = active, cap = cap,
                         idle = tonumber(advs[i + 1])}
    end
  end
  return free
end

-- Routing rule: among free advisers, fewest active chats, then idle
-- longest; never `avoid` (the adviser who just handed the chat on).
local function pick_adviser(free, avoid)
  local best
  for _, a in ipairs(free) do
    if a.name ~= avoid and (best == nil or a.active < best.active or
        (a.active == best.active and a.idle < best.idle)) then
      best = a
    end
  end
  return best
end

-- Prometheus histograms, kept as per-bucket counters (docs/reports.md).
local WAIT_LE = {5, 15, 30, 60, 120, 300, 600, 1800}
local function wait_hist(name, ms)
  local b = 'inf'
  for _, le in ipairs(WAIT_LE) do
    if ms <= le * 1000 then b = tostring(le) break end
  end
  redis.call('HINCRBY', 'metrics', name .. '_le_' .. b, 1)
  redis.call('HINCRBY', 'metrics', name .. '_sum_ms', ms)
  redis.call('HINCRBY', 'metrics', name .. '_count', 1)
end

-- Counters for every stored parent or adviser message.  With counts (a
-- table), they are added up there for the caller to write once per batch
-- (count_flush); without, written here.
local function count_add(counts, field)
  if counts then
    counts[field] = (counts[field] or 0) + 1
  else
    redis.call('HINCRBY', 'metrics', field, 1)
  end
end

local function count_message(from, tri, counts)
  count_add(counts, 'messages:' .. from)
  -- Most messages name no category: no need to decode (chatd writes the
  -- triage JSON compact, so an empty list is exactly this).
  if from == 'parent' and tri ~= '' and
     not tri:find('"categories":[]', 1, true) then
    local ok, t = pcall(cjson.decode, tri)
    if ok and type(t) == 'table' and type(t.categories) == 'table' then
      for _, c in ipairs(t.categories) do count_add(counts, 'triage:' .. c) end
    end
  end
end

local function count_flush(counts)
  for field, n in pairs(counts) do
    redis.call('HINCRBY', 'metrics', field, n)
  end
end

local function assign(conv, adv, now)
  local st = redis.call('HMGET', 'conv:' .. conv, 'queued_at', 'sev')
  local wait = now - (tonumber(st[1]) or now)
  event('answered', {conv = conv, adviser = adv, sev = st[2] or 0,
                     wait_ms = wait})
  wait_hist('wait', wait)
  redis.call('ZREM', 'queue', conv)
  redis.call('HSET', 'conv:' .. conv, 'state', 'chatting', 'adviser', adv,
             'paired_at', now)
  redis.call('HDEL', 'conv:' .. conv, 'want', 'want_until', 'avoid')
  redis.call('SADD', 'staff:' .. adv .. ':convs', conv)
  redis.call('HINCRBY', 'staff:' .. adv, 'active', 1)
  redis.call('ZADD', 'advisers', 'XX', now, adv)
  publish({t = 'state', c = conv})
  publish({t = 'staff', s = adv})
end

-- Pair waiting parents, in queue order, while anyone can take them.  A
-- returning parent waits for their own adviser until want_until (the
-- continuity rule), without holding up the parents behind them.
local PAIR_SCAN = 100 -- queue entries looked at per call
local function pair_all(now)
  local n = 0
  local free = free_advisers()
  if #free == 0 then return 0 end
  for _, conv in ipairs(redis.call('ZRANGE', 'queue', 0, PAIR_SCAN - 1)) do
    local w = redis.call('HMGET', 'conv:' .. conv, 'want', 'want_until', 'avoid')
    local adv
    if w[1] and w[1] ~= '' and now < (tonumber(w[2]) or 0) then
      for _, a in ipairs(free) do
        if a.name == w[1] then adv = a end
      end
    else
      adv = pick_adviser(free, w[3])
    end
    if adv then
      assign(conv, adv.name, now)
      n = n + 1
      adv.active = adv.active + 1
      adv.idle = now
      for i, a in ipairs(free) do
        if a == adv and a.active >= a.cap then table.remove(free, i) end
      end
      if #free == 0 then break end
    end
  end
  if n > 0 then publish({t = 'queue'}) end
  return n
end

local function audit(now, who, role, action, conv, detail)
  redis.call('XADD', 'audit', '*', 'ts', now, 'who', who, 'role', role,
             'action', action, 'conv', conv, 'detail', detail or '')
end

-- Open the conversation's case, or raise it.  Returns the case status.
local function open_case(conv, now, sev, categories, by, note)
  local k = 'case:' .. conv
  if redis.call('EXISTS', k) == 0 then
    local adv = redis.call('HGET', 'conv:' .. conv, 'adviser') or ''
    redis.call('HSET', k, 'conv', conv, 'status', 'open', 'sev', sev,
               'categories', categories, 'adviser', adv, 'opened_at', now,
               'opened_by', by, 'note', note or '')
    redis.call('ZADD', 'cases', now, conv)
    event('escalated', {conv = conv, sev = sev, by = by})
  else
    local old = tonumber(redis.call('HGET', k, 'sev')) or 0
    if sev > old then redis.call('HSET', k, 'sev', sev) end
    if note and note ~= '' then redis.call('HSET', k, 'note', note) end
    if redis.call('HGET', k, 'status') == 'decided' and sev > old then
      redis.call('HSET', k, 'status', 'open') -- worse than when decided
    end
  end
  return redis.call('HGET', k, 'status')
end

local function categories_of(tri)
  local ok, t = pcall(cjson.decode, tri)
  if ok and type(t) == 'table' and type(t.categories) == 'table' then
    return table.concat(t.categories, ',')
  end
  return ''
end

-- Severity rose to high (3) or emergency (4): a case is opened and every
-- lead on shift is told.
local function alert_if_high(conv, old, new, tri, now)
  if new >= 3 and new > old then
    open_case(conv, now, new, categories_of(tri), 'triage', '')
    publish({t = 'alert', c = conv, sev = new, tri = tri})
  end
end

-- Conversations over, by when: the retention sweep's index.
local function ended_at(conv, now)
  redis.call('ZADD', 'ended', now, conv)
end

local function queue_changed()
  publish({t = 'queue'})
end

-- End a conversation that is queued or chatting (the caller checked).
-- ret: {digest, sealed code, ttl} for the parent's return code, or nil.
local function end_conv(conv, now, by, reason, ret)
  local key = 'conv:' .. conv
  local st = redis.call('HMGET', key, 'state', 'adviser', 'paired_at',
                        'queued_at', 'sev')
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
    redis.call('HSET', 'stats', 'chat_avg_ms', string.format('%d', avg),
               'chats', n)
    publish({t = 'staff', s = adv})
    -- One key person: the parent may come back to this adviser.
    if ret and ret[1] ~= '' then
      redis.call('SET', 'ret:' .. ret[1], adv .. '|' .. conv, 'EX', ret[3])
      redis.call('HSET', key, 'return_ct', ret[2])
    end
  end
  redis.call('HSET', key, 'state', 'ended', 'ended_by', by, 'reason', reason,
             'ended_at', now)
  redis.call('ZREM', 'seen:p', conv)
  ended_at(conv, now)
  publish({t = 'state', c = conv})
end
