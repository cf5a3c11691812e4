-- Cancel a job. A queued or waiting job is canceled at once; a running one is marked, and becomes canceled
-- when its worker settles it (after the upstream call returns), whatever that worker reports.
-- KEYS[1] job hash, KEYS[2] deadlines zset
-- ARGV[1] job id
-- Returns 'canceled', 'requested' (running), or the finished status ('succeeded', 'failed'), or 'missing'.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'missing'
end
if status == 'queued' or status == 'waiting_for_quota' then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'status', 'canceled', 'completed_at', string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1e6))
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'canceled'
end
if status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  return 'requested'
end
return status
