-- A hosted-Karlo job the sweeper found due: does its message need resending, or does it need quota first?
-- A job handed out with a reservation for its next attempt lost its message: 'send' (the reservation is still
-- unused). A job without one (its worker died mid-run, so the reservation went with that attempt; or a job
-- recorded before the scheduler) goes back to the head of its tenant's scheduler queue, which hands it out
-- again with a new reservation: 'requeued'. A job whose lease is still live, or that finished: 'skip'.
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the job's deliveries hash, KEYS[4] webhook schedule zset
-- ARGV[1] job id, ARGV[2] images the job generates (for a job recorded before the scheduler)
--!include job_events
--!include sched_lib
local f = redis.call('HMGET', KEYS[1], 'lease_until', 'attempts', 'reservation', 'reservation_attempt', 'run_after',
  'status')
local status = f[6]
if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then return 'skip' end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if status == 'running' then
  if tonumber(f[1] or '0') > now then return 'skip' end
elseif f[3] and tonumber(f[4] or '0') == tonumber(f[2] or '0') + 1 then
  return 'send'
elseif tonumber(f[5] or '0') > now then
  return 'skip'  -- a retry (recorded before the scheduler) still waiting out its backoff
end
redis.call('HSETNX', KEYS[1], 'sched_images', ARGV[2])
if status == 'running' then
  redis.call('HDEL', KEYS[1], 'lease_token', 'lease_until')
  redis.call('HSET', KEYS[1], 'status', 'queued')
  record_job_event(KEYS[1], KEYS[3], KEYS[4], ARGV[1], 'running', 'queued', now)
end
sched_requeue(ARGV[1], KEYS[2], now)
return 'requeued'
