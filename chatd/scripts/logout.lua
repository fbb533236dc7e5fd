-- logout: end a staff session and every token rotation linked to it, so
-- neither a replaced cookie still inside its overlap nor its successor
-- outlives the logout.  ARGV: digest.  Returns the keys deleted.
local SESSION_HOPS = 16 -- links followed each way
local start = ARGV[1]
local n = 0
for _, field in ipairs({'prev', 'next'}) do
  local d = redis.call('HGET', 'sess:' .. start, field)
  for _ = 1, SESSION_HOPS do
    if not d then break end
    local nd = redis.call('HGET', 'sess:' .. d, field)
    n = n + redis.call('DEL', 'sess:' .. d)
    d = nd
  end
end
return n + redis.call('DEL', 'sess:' .. start)
