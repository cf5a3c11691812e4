-- Library (included by quota_restamp and job_claim): move a held reservation's minute-log entries to now, just
-- before its upstream call, so the minute windows count calls when they are made, not when the scheduler
-- handed the job out. Safe only while the entries still count (an entry is counted from its grant until it
-- leaves the window, so every grant since saw it); an entry already out of its window is not moved, and the
-- caller gives the reservation back and queues again.
-- Returns 1 when moved, 0 when the reservation is not held or its entries left the window.
--!include quota_lib
local function quota_restamp(clock_key, record_key, window, overrides)
  if redis.call('HGET', record_key, 'state') ~= 'held' then return 0 end
  local now = quota_clock(clock_key, overrides)
  local member = redis.call('HGET', record_key, 'member')
  local scope_keys = {}
  for key in string.gmatch(redis.call('HGET', record_key, 'keys') or '', '%S+') do table.insert(scope_keys, key) end
  for i = 1, #scope_keys, 4 do
    local at = redis.call('ZSCORE', scope_keys[i], member)
    if not at or tonumber(at) <= now - window then return 0 end
  end
  for i = 1, #scope_keys, 4 do redis.call('ZADD', scope_keys[i], 'XX', now, member) end
  redis.call('HSET', record_key, 'at', quota_fmt(now))
  return 1
end
