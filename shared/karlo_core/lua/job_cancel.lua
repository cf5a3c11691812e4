-- Cancel a job. A queued or waiting job is canceled at once; a running one is marked, and becomes canceled
-- when its worker settles it (after the upstream call returns), whatever that worker reports.
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the job's deliveries hash, KEYS[4] webhook schedule zset
-- ARGV[1] job id
-- Returns 'canceled', 'requested' (running), or the finished status ('succeeded', 'failed'), or 'missing'.
--!include job_events
--!include job_cancel_now
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'missing'
end
if status == 'queued' or status == 'waiting_for_quota' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
  cancel_now(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], status, now)
  return 'canceled'
end
if status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  return 'requested'
end
return status
