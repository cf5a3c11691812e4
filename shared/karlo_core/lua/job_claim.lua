-- Claim a job for one worker: from a claimable status, or from 'running' once its lease has expired.
-- The lease lives in the job ('lease_until'); the deadlines zset is only the sweeper's schedule.
-- With a minute window (ARGV[4]), the claim also restamps the quota reservation the scheduler made for this
-- attempt (lua/quota_restamp_lib.lua), as the call is about to be made: no round trip of its own.
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the job's deliveries hash, KEYS[4] webhook schedule zset,
-- KEYS[5] the quota clock override (only with ARGV[4])
-- ARGV[1] job id, ARGV[2] lease token, ARGV[3] lease seconds, ARGV[4] minute window seconds ('': no restamp),
-- ARGV[5] clock overrides enabled, ARGV[6] the reservation records' key prefix, ARGV[7..] claimable statuses
-- Returns {'claimed', attempts, the job's hash as a flat field/value list (so the worker needs no read after
-- the claim), the restamp's outcome ('1' moved, '0' not held or out of its window, '' no reservation for this
-- attempt or none asked)} or {reason}: 'missing', 'leased', 'canceled' (a cancel was pending),
-- 'early' (a retry or quota wait not yet over: the schedule sends its message when it is), or the job's
-- current status.
--!include job_events
--!include job_cancel_now
--!include quota_restamp_lib
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'missing'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local claimable = false
for i = 7, #ARGV do
  if ARGV[i] == status then claimable = true end
end
if not claimable then
  return {status}
end
if status == 'running' then
  local lease_until = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
  if lease_until > now then
    return {'leased'}
  end
elseif tonumber(redis.call('HGET', KEYS[1], 'run_after') or '0') > now then
  return {'early'}
end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  -- its worker died after a cancel was asked for: end it rather than run it again
  cancel_now(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], status, now)
  return {'canceled'}
end
local lease_until = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'running', 'lease_token', ARGV[2],
  'lease_until', string.format('%.6f', lease_until), 'claimed_at', string.format('%.6f', now))
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSETNX', KEYS[1], 'started_at', string.format('%.6f', now))
redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
record_job_event(KEYS[1], KEYS[3], KEYS[4], ARGV[1], status, 'running', now)
local restamped = ''
if ARGV[4] ~= '' then
  local held = redis.call('HMGET', KEYS[1], 'reservation', 'reservation_attempt')
  if held[1] and tonumber(held[2] or '0') == attempts then
    restamped = tostring(quota_restamp(KEYS[5], ARGV[6] .. held[1], tonumber(ARGV[4]), ARGV[5]))
  end
end
return {'claimed', attempts, redis.call('HGETALL', KEYS[1]), restamped}
