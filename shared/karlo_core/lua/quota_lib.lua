-- Library (included by quota_reserve, quota_usage, quota_restamp, sched_dispatch and job_accept): the quota
-- windows, read, checked and taken in one place.
-- Minute windows are sliding logs (a zset of "reservation:images" scored by time). An entry made at t counts
-- during [t, t+W); a grant is made only if the entries still counting plus N stay within the limit, so no
-- W-second span ever holds more than the limit. A running total beside the log keeps checks and reads O(1)
-- amortized, whatever the log's length: each entry is subtracted once, when it leaves the window; a denial
-- reads the log only as far as the oldest entries that free enough for its retry time.
-- Day and month windows are calendar counters whose keys expire an hour after their window ends, counted
-- on the caller's clock (so a test clock set in the past does not expire them at once); a counter's expiry is
-- fixed (its window's end), so it is set once, when the counter starts.
-- A scope is a table {minute = zset, total = counter, day = counter, month = counter,
-- minute_limit = n, day_limit = n, month_limit = n}.

local function quota_fmt(x) return string.format('%.6f', x) end

-- The quota clock: Redis TIME, or the test-only override when it is enabled ('1') and set.
local function quota_clock(clock_key, overrides)
  if overrides == '1' then
    local override = redis.call('GET', clock_key)
    if override then return tonumber(override) end
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end

local function quota_images_of(member) return tonumber(string.match(member, ':(%d+)$')) end

-- Drop minute-log entries that left the window (each subtracted from the running total once).
local function quota_expire(scope, now, window)
  local expired = redis.call('ZRANGEBYSCORE', scope.minute, '-inf', quota_fmt(now - window))
  if #expired > 0 then
    local gone = 0
    for _, member in ipairs(expired) do gone = gone + quota_images_of(member) end
    redis.call('ZREMRANGEBYSCORE', scope.minute, '-inf', quota_fmt(now - window))
    redis.call('DECRBY', scope.total, gone)
  end
end

-- Whether n images fit in every window of every scope (minute logs already expired to now).
-- Returns nil when they fit, else {scope index (0-based), window name, retry_at (number; math.huge: never)}.
local function quota_check(scopes, n, now, window, day_end, month_end)
  for s, scope in ipairs(scopes) do
    local counts = redis.call('MGET', scope.total, scope.day, scope.month)
    local used = tonumber(counts[1] or '0')
    if used + n > scope.minute_limit then
      if n > scope.minute_limit then return {s - 1, 'minute', math.huge} end
      -- the log read oldest first, in doubling pages, only as far as the entries that free enough
      local need, freed, from, page = used + n - scope.minute_limit, 0, 0, 8
      while true do
        local entries = redis.call('ZRANGE', scope.minute, from, from + page - 1, 'WITHSCORES')
        for i = 1, #entries, 2 do
          freed = freed + quota_images_of(entries[i])
          if freed >= need then return {s - 1, 'minute', tonumber(entries[i + 1]) + window} end
        end
        if #entries < 2 * page then return {s - 1, 'minute', now + window} end
        from, page = from + page, page * 2
      end
    end
    if tonumber(counts[2] or '0') + n > scope.day_limit then
      return {s - 1, 'day', n > scope.day_limit and math.huge or day_end}
    end
    if tonumber(counts[3] or '0') + n > scope.month_limit then
      return {s - 1, 'month', n > scope.month_limit and math.huge or month_end}
    end
  end
  return nil
end

-- Take n images from every window of every scope, and record the reservation (for exactly-once refunds).
local function quota_take(scopes, n, reservation_id, record_key, record_ttl, now, window, day_end, month_end)
  local member = reservation_id .. ':' .. n
  local taken = {}
  for _, scope in ipairs(scopes) do
    redis.call('ZADD', scope.minute, now, member)
    redis.call('INCRBY', scope.total, n)
    redis.call('EXPIRE', scope.minute, math.ceil(window) + 60)
    redis.call('EXPIRE', scope.total, math.ceil(window) + 60)
    if redis.call('INCRBY', scope.day, n) == n then redis.call('EXPIRE', scope.day, math.ceil(day_end - now) + 3600) end
    if redis.call('INCRBY', scope.month, n) == n then
      redis.call('EXPIRE', scope.month, math.ceil(month_end - now) + 3600)
    end
    for _, key in ipairs({scope.minute, scope.total, scope.day, scope.month}) do table.insert(taken, key) end
  end
  redis.call('HSET', record_key, 'state', 'held', 'images', n, 'member', member, 'at', quota_fmt(now),
    'keys', table.concat(taken, ' '))
  redis.call('EXPIRE', record_key, record_ttl)
end

-- Each scope's {minute used, minute reset time, day used, month used} as strings (a flat list), read from the
-- running totals (minute logs expired to ``now`` on the way, when their oldest entry has left the window);
-- ``scope_keys`` holds four keys per scope: minute log, minute total, day, month.
local function quota_usages(scope_keys, now, window)
  local out = {}
  for i = 1, #scope_keys, 4 do
    local scope = {minute = scope_keys[i], total = scope_keys[i + 1]}
    local oldest = redis.call('ZRANGE', scope.minute, 0, 0, 'WITHSCORES')
    if #oldest > 0 and tonumber(oldest[2]) <= tonumber(quota_fmt(now - window)) then
      quota_expire(scope, now, window)
      oldest = redis.call('ZRANGE', scope.minute, 0, 0, 'WITHSCORES')
    end
    local used = redis.call('MGET', scope.total, scope_keys[i + 2], scope_keys[i + 3])
    out[#out + 1] = used[1] or '0'
    out[#out + 1] = quota_fmt(#oldest == 0 and now + window or tonumber(oldest[2]) + window)
    out[#out + 1] = used[2] or '0'
    out[#out + 1] = used[3] or '0'
  end
  return out
end
