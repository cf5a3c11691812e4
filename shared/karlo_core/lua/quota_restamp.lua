-- Move a held reservation's minute-log entries to now, just before its upstream call, so the minute windows
-- count calls when they are made, not when the scheduler handed the job out. Safe only while the entries still
-- count (an entry is counted from its grant until it leaves the window, so every grant since saw it); an
-- entry already out of its window is not moved, and the caller gives the reservation back and queues again.
-- KEYS[1] clock override, KEYS[2] reservation record; ARGV[1] minute window seconds, ARGV[2] overrides enabled
-- Returns 1 when moved, 0 when the reservation is not held or its entries left the window.
--!include quota_lib
if redis.call('HGET', KEYS[2], 'state') ~= 'held' then return 0 end
local now = quota_clock(KEYS[1], ARGV[2])
local window = tonumber(ARGV[1])
local member = redis.call('HGET', KEYS[2], 'member')
local scope_keys = {}
for key in string.gmatch(redis.call('HGET', KEYS[2], 'keys') or '', '%S+') do table.insert(scope_keys, key) end
for i = 1, #scope_keys, 4 do
  local at = redis.call('ZSCORE', scope_keys[i], member)
  if not at or tonumber(at) <= now - window then return 0 end
end
for i = 1, #scope_keys, 4 do redis.call('ZADD', scope_keys[i], 'XX', now, member) end
redis.call('HSET', KEYS[2], 'at', quota_fmt(now))
return 1
