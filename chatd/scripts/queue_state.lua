-- queue_state: what the queue frames need (conv_apply_queue_state).
-- ARGV: ranges of places to list, as pairs: first place (0 = the front),
-- how many; none for the figures alone.
-- Returns {advisers available, mean chat ms, waiting, the count in each
-- severity band from emergency down to none (5), the oldest joined ms (0
-- with nobody waiting), then per range: its first place, how many, and
-- the conversations in those places}.
-- Every call is O(log N) but for the places listed: with 15,000 waiting,
-- listing the whole queue held Redis for 13 ms, and chatd asked for it
-- every 50 ms while the queue moved (docs/performance.md).
local out = {redis.call('ZCARD', 'advisers'),
             tonumber(redis.call('HGET', 'stats', 'chat_avg_ms')) or 0,
             redis.call('ZCARD', 'queue')}
local oldest = 0
for band = 0, 4 do
  local lo = band * SEV_BAND
  local hi = lo + SEV_BAND - 1
  local n = redis.call('ZCOUNT', 'queue', lo, hi)
  out[#out + 1] = n
  if n > 0 then
    local first = redis.call('ZRANGE', 'queue', lo, hi, 'BYSCORE', 'LIMIT',
                             0, 1, 'WITHSCORES')
    local joined = tonumber(first[2]) - lo
    if oldest == 0 or joined < oldest then oldest = joined end
  end
end
out[#out + 1] = oldest
for i = 1, #ARGV - 1, 2 do
  local from, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local q = n > 0 and
            redis.call('ZRANGE', 'queue', from, from + n - 1) or {}
  out[#out + 1] = from
  out[#out + 1] = #q
  for _, c in ipairs(q) do out[#out + 1] = c end
end
return out
