-- Reserve N images in every window of every scope at once, all or nothing (the windows: lua/quota_lib.lua).
-- KEYS[1] clock override, KEYS[2] blocked-until (Karlo said -10), KEYS[3] reservation record,
-- then per scope: minute zset, minute total, day counter, month counter.
-- ARGV[1] images, ARGV[2] reservation id, ARGV[3] minute window seconds, ARGV[4] day start, ARGV[5] day end,
-- ARGV[6] month start, ARGV[7] month end, ARGV[8] overrides enabled, ARGV[9] record ttl,
-- then per scope: minute limit, day limit, month limit.
-- Returns {'granted', now} | {'denied', scope index, window, retry_at} | {'stale', now} | {'blocked', until}
--!include quota_lib
local now = quota_clock(KEYS[1], ARGV[8])
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
local day_start, day_end = tonumber(ARGV[4]), tonumber(ARGV[5])
local month_start, month_end = tonumber(ARGV[6]), tonumber(ARGV[7])
if now < day_start or now >= day_end or now < month_start or now >= month_end then
  return {'stale', quota_fmt(now)}
end
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then
  return {'blocked', quota_fmt(blocked)}
end
local scopes = {}
for s = 0, (#KEYS - 3) / 4 - 1 do
  local scope = {minute = KEYS[4 + 4 * s], total = KEYS[5 + 4 * s], day = KEYS[6 + 4 * s], month = KEYS[7 + 4 * s],
    minute_limit = tonumber(ARGV[10 + 3 * s]), day_limit = tonumber(ARGV[11 + 3 * s]),
    month_limit = tonumber(ARGV[12 + 3 * s])}
  quota_expire(scope, now, window)
  table.insert(scopes, scope)
end
local denied = quota_check(scopes, n, now, window, day_end, month_end)
if denied then
  local retry = denied[3] == math.huge and 'inf' or quota_fmt(denied[3])
  return {'denied', denied[1], denied[2], retry}
end
quota_take(scopes, n, ARGV[2], KEYS[3], tonumber(ARGV[9]), now, window, day_end, month_end)
return {'granted', quota_fmt(now)}
