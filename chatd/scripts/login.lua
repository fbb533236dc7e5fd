-- login: what a login attempt needs, in one round trip.
-- ARGV: name.  Returns {role, pwhash, failures} (nil where absent).
local u = redis.call('HMGET', 'user:' .. ARGV[1], 'role', 'pwhash')
return {u[1], u[2], redis.call('GET', 'loginfail:' .. ARGV[1])}
