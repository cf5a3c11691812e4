-- Library: the quota's clock and its sliding minute windows (quota_reserve.lua, quota_usage.lua,
-- job_accept.lua).
-- A minute window is a log (a zset of "reservation:images" scored by time) and a running total beside it. An
-- entry made at t counts during [t, t+W); each entry is subtracted from the total once, when it leaves the
-- window, so reading the images still counting costs O(1) amortized, whatever the log's length.

local function fmt(x) return string.format('%.6f', x) end

-- Redis TIME, or the test-only override (``override_key``) when ``enabled`` is '1' and it is set.
local function quota_clock(override_key, enabled)
  if enabled == '1' then
    local override = redis.call('GET', override_key)
    if override then return tonumber(override) end
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end

-- The images of the minute window still counting at ``now``: entries that left it are dropped from the log
-- and their images from the total.
local function minute_used(log_key, total_key, now, window)
  local expired = redis.call('ZRANGEBYSCORE', log_key, '-inf', fmt(now - window))
  if #expired > 0 then
    local gone = 0
    for _, member in ipairs(expired) do gone = gone + tonumber(string.match(member, ':(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', log_key, '-inf', fmt(now - window))
    redis.call('DECRBY', total_key, gone)
  end
  return tonumber(redis.call('GET', total_key) or '0')
end

-- When the minute window's oldest entry leaves it (``now + window`` with none): its reset time.
local function minute_resets_at(log_key, now, window)
  local oldest = redis.call('ZRANGE', log_key, 0, 0, 'WITHSCORES')
  if #oldest == 0 then return now + window end
  return tonumber(oldest[2]) + window
end

-- Each scope's {minute used, minute reset time, day used, month used} as strings (a flat list), read from the
-- running totals; ``scope_keys`` holds four keys per scope: minute log, minute total, day, month.
local function quota_usages(scope_keys, now, window)
  local out = {}
  for i = 1, #scope_keys, 4 do
    local used = minute_used(scope_keys[i], scope_keys[i + 1], now, window)
    out[#out + 1] = tostring(used)
    out[#out + 1] = fmt(minute_resets_at(scope_keys[i], now, window))
    out[#out + 1] = redis.call('GET', scope_keys[i + 2]) or '0'
    out[#out + 1] = redis.call('GET', scope_keys[i + 3]) or '0'
  end
  return out
end
