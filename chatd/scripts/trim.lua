-- trim: keep the text-free streams from growing without bound.  Run on the
-- retention timer.  Entry ids are '*' ids, so an id's first part is the
-- time it was written (ms): MINID drops every entry older than a cutoff.
--   events: older than events_keep, then the oldest beyond events_max (a
--           flood of starts must not fill Redis between sweeps).
--   audit:  older than audit_keep only, never by count: a count limit
--           would let someone flood the audit to push out the record of
--           what they read.  Config keeps audit_keep >= retention.
-- ARGV: now ms, events keep ms, events max entries, audit keep ms.
-- Returns {events trimmed, audit trimmed}.
local now = tonumber(ARGV[1])
local ev_cut = string.format('%d', now - tonumber(ARGV[2]))
local au_cut = string.format('%d', now - tonumber(ARGV[4]))
local e = redis.call('XTRIM', 'events', 'MINID', ev_cut)
e = e + redis.call('XTRIM', 'events', 'MAXLEN', ARGV[3])
local a = redis.call('XTRIM', 'audit', 'MINID', au_cut)
return {e, a}
