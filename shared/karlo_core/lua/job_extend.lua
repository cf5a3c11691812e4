-- Extend the lease of a running job, only for the worker that holds it.
-- KEYS[1] job hash, KEYS[2] deadlines zset
-- ARGV[1] job id, ARGV[2] lease token, ARGV[3] lease seconds
-- Returns 1 when extended, 2 when extended and a cancel has been requested (the worker drops what the attempt
-- makes rather than store it), 0 when the lease is no longer ours.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[2] then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local lease_until = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'lease_until', string.format('%.6f', lease_until))
redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  return 2
end
return 1
