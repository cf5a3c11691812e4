-- Reserve N images in every window of every scope at once, all or nothing.
-- Minute windows are sliding logs with running totals (quota_windows.lua); a grant is made only if the entries
-- still counting plus N stay within the limit, so no W-second span ever holds more than the limit.
-- Day and month windows are calendar counters whose keys expire an hour after their window ends, counted
-- on this script's clock (so a test clock set in the past does not expire them at once).
-- KEYS[1] clock override, KEYS[2] blocked-until (Karlo said -10), KEYS[3] reservation record,
-- then per scope: minute zset, minute total, day counter, month counter.
-- ARGV[1] images, ARGV[2] reservation id, ARGV[3] the settings, space-separated (fixed per scopes and day, so
-- the caller builds them once): minute window seconds, day start, day end, month start, month end, overrides
-- enabled, record ttl, then per scope: minute limit, day limit, month limit.
-- Returns {'granted', now} | {'denied', scope index, window, retry_at} | {'stale', now} | {'blocked', until}
--!include quota_windows
local cfg = {}
for word in string.gmatch(ARGV[3], '%S+') do cfg[#cfg + 1] = word end
local now = quota_clock(KEYS[1], cfg[6])
local n = tonumber(ARGV[1])
local window = tonumber(cfg[1])
local day_start, day_end = tonumber(cfg[2]), tonumber(cfg[3])
local month_start, month_end = tonumber(cfg[4]), tonumber(cfg[5])
if now < day_start or now >= day_end or now < month_start or now >= month_end then
  return {'stale', fmt(now)}
end
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then
  return {'blocked', fmt(blocked)}
end
local scopes = (#KEYS - 3) / 4
for s = 0, scopes - 1 do
  local minute, total, day, month = KEYS[4 + 4 * s], KEYS[5 + 4 * s], KEYS[6 + 4 * s], KEYS[7 + 4 * s]
  local minute_limit = tonumber(cfg[8 + 3 * s])
  local day_limit, month_limit = tonumber(cfg[9 + 3 * s]), tonumber(cfg[10 + 3 * s])
  local used = minute_used(minute, total, now, window)
  if used + n > minute_limit then
    if n > minute_limit then return {'denied', s, 'minute', 'inf'} end
    local need, freed = used + n - minute_limit, 0
    local entries = redis.call('ZRANGE', minute, 0, -1, 'WITHSCORES')
    for i = 1, #entries, 2 do
      freed = freed + tonumber(string.match(entries[i], ':(%d+)$'))
      if freed >= need then return {'denied', s, 'minute', fmt(tonumber(entries[i + 1]) + window)} end
    end
  end
  if tonumber(redis.call('GET', day) or '0') + n > day_limit then
    return {'denied', s, 'day', n > day_limit and 'inf' or fmt(day_end)}
  end
  if tonumber(redis.call('GET', month) or '0') + n > month_limit then
    return {'denied', s, 'month', n > month_limit and 'inf' or fmt(month_end)}
  end
end
local member = ARGV[2] .. ':' .. ARGV[1]
for s = 0, scopes - 1 do
  local minute, total, day, month = KEYS[4 + 4 * s], KEYS[5 + 4 * s], KEYS[6 + 4 * s], KEYS[7 + 4 * s]
  redis.call('ZADD', minute, now, member)
  redis.call('INCRBY', total, n)
  redis.call('EXPIRE', minute, math.ceil(window) + 60)
  redis.call('EXPIRE', total, math.ceil(window) + 60)
  -- a calendar counter's expiry is fixed (its window's end), so it is set once, when the counter starts
  if redis.call('INCRBY', day, n) == n then redis.call('EXPIRE', day, math.ceil(day_end - now) + 3600) end
  if redis.call('INCRBY', month, n) == n then redis.call('EXPIRE', month, math.ceil(month_end - now) + 3600) end
end
redis.call('HSET', KEYS[3], 'state', 'held', 'images', n, 'member', member, 'at', fmt(now),
  'keys', table.concat({unpack(KEYS, 4)}, ' '))
redis.call('EXPIRE', KEYS[3], tonumber(cfg[7]))
return {'granted', fmt(now)}
