-- The API sent a new job's first message: move its deadline from the short first one to the last-resort
-- one, unless a worker already took the job (its lease is the deadline then).
-- KEYS[1] job hash, KEYS[2] deadlines zset
-- ARGV[1] job id, ARGV[2] seconds until the last-resort deadline
-- Returns 1 when moved, 0 otherwise.
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' or redis.call('HGET', KEYS[1], 'attempts') ~= '0' then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
