-- queue_state: what every waiting parent's position and estimate need.
-- Returns {advisers available, mean chat ms, conv1, score1, conv2, ...}.
local out = {redis.call('ZCARD', 'advisers'),
             tonumber(redis.call('HGET', 'stats', 'chat_avg_ms')) or 0}
local q = redis.call('ZRANGE', 'queue', 0, -1, 'WITHSCORES')
for i = 1, #q do out[#out + 1] = q[i] end
return out
