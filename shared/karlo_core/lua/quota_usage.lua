-- Read every window of the given scopes from the running totals (O(1) amortized in the minute log's length).
-- KEYS[1] clock override, then per scope: minute zset, minute total, day counter, month counter.
-- ARGV[1] overrides enabled, ARGV[2] minute window seconds, ARGV[3] day start, ARGV[4] day end,
-- ARGV[5] month start, ARGV[6] month end (the calendar windows the caller expects now to fall in)
-- Returns {'usage', now, per scope: minute used, minute reset, day used, month used} | {'stale', now}
--!include quota_lib
local now = quota_clock(KEYS[1], ARGV[1])
if now < tonumber(ARGV[3]) or now >= tonumber(ARGV[4]) or now < tonumber(ARGV[5]) or now >= tonumber(ARGV[6]) then
  return {'stale', quota_fmt(now)}
end
local reply = {'usage', quota_fmt(now)}
for _, value in ipairs(quota_usages({unpack(KEYS, 2)}, now, tonumber(ARGV[2]))) do reply[#reply + 1] = value end
return reply
