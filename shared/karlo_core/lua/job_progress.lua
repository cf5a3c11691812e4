-- Record a running job's progress, only for the worker that holds its lease.
-- KEYS[1] job hash
-- ARGV[1] lease token, ARGV[2] progress JSON
-- Returns 1 when a cancel has been requested (the worker stops), 0 otherwise.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then
  return redis.call('HGET', KEYS[1], 'cancel_requested') == '1' and 1 or 0
end
redis.call('HSET', KEYS[1], 'progress', ARGV[2])
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  return 1
end
return 0
