-- Move a running job out of its lease: to a terminal status, or back to a waiting one.
-- Only the worker holding the lease may do it, so a redelivered or late task cannot overwrite a result.
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the job's deliveries hash, KEYS[4] webhook schedule zset
-- ARGV[1] job id, ARGV[2] lease token, ARGV[3] new status,
-- ARGV[4] seconds until the job may run again (its next deadline, and 'run_after': a message that arrives
--   earlier is not claimed), or '' for a terminal status (no deadline, completed_at set), or 'sched:SECONDS':
--   back at the head of its tenant's scheduler queue (lua/sched_lib.lua), which hands it out again once
--   SECONDS (its retry's backoff, or 0) have passed,
-- ARGV[5..] field/value pairs to store.
-- A job that succeeds adds its run to its backend's pace (lua/sched_pace.lua), for local backends' estimates.
-- Returns 'ok'; 'canceled' when a cancel was requested meanwhile (the job is canceled instead);
-- or the current status when the lease is not ours.
--!include job_events
--!include job_cancel_now
--!include sched_lib
--!include sched_pace
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' or redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[2] then
  return status or 'missing'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HDEL', KEYS[1], 'lease_token', 'lease_until')
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  -- canceled while running: the outcome of the attempt is dropped
  cancel_now(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], status, now)
  return 'canceled'
end
redis.call('HSET', KEYS[1], 'status', ARGV[3])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], 'completed_at', string.format('%.6f', now))
  if ARGV[3] == 'succeeded' then sched_note_run(KEYS[1], now) end
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif string.sub(ARGV[4], 1, 6) == 'sched:' then
  local delay = tonumber(string.sub(ARGV[4], 7))
  if delay > 0 then
    redis.call('HSET', KEYS[1], 'run_after', string.format('%.6f', now + delay))
  else
    redis.call('HDEL', KEYS[1], 'run_after')
  end
  sched_requeue(ARGV[1], KEYS[2], now)
else
  local run_after = now + tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], 'run_after', string.format('%.6f', run_after))
  redis.call('ZADD', KEYS[2], run_after, ARGV[1])
end
record_job_event(KEYS[1], KEYS[3], KEYS[4], ARGV[1], status, ARGV[3], now)
return 'ok'
