-- Reserve N images in every window of every scope at once, all or nothing (the windows: lua/quota_lib.lua).
-- KEYS[1] clock override, KEYS[2] blocked-until (Karlo said -10), KEYS[3] reservation record,
-- then per scope: minute zset, minute total, day counter, month counter.
-- ARGV[1] images, ARGV[2] reservation id, ARGV[3] the settings, space-separated (fixed per scopes and day, so
-- the caller builds them once): minute window seconds, day start, day end, month start, month end, overrides
-- enabled, record ttl, then per scope: minute limit, day limit, month limit.
-- Returns {'granted', now} | {'denied', scope index, window, retry_at} | {'stale', now} | {'blocked', until}
--!include quota_lib
local cfg = {}
for word in string.gmatch(ARGV[3], '%S+') do cfg[#cfg + 1] = word end
local now = quota_clock(KEYS[1], cfg[6])
local n = tonumber(ARGV[1])
local window = tonumber(cfg[1])
local day_start, day_end = tonumber(cfg[2]), tonumber(cfg[3])
local month_start, month_end = tonumber(cfg[4]), tonumber(cfg[5])
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
    minute_limit = tonumber(cfg[8 + 3 * s]), day_limit = tonumber(cfg[9 + 3 * s]),
    month_limit = tonumber(cfg[10 + 3 * s])}
  quota_expire(scope, now, window)
  table.insert(scopes, scope)
end
local denied = quota_check(scopes, n, now, window, day_end, month_end)
if denied then
  local retry = denied[3] == math.huge and 'inf' or quota_fmt(denied[3])
  return {'denied', denied[1], denied[2], retry}
end
quota_take(scopes, n, ARGV[2], KEYS[3], tonumber(cfg[7]), now, window, day_end, month_end)
return {'granted', quota_fmt(now)}
