-- A run-job message was delivered to a worker a while ago and is still unacknowledged: decide what it means
-- for its job. A job claimed since the delivery used the message (its attempt settles the next step); a
-- running job under a live lease has a worker whose death the lease covers; but a job that nobody claimed
-- since the delivery (queued, waiting, or running on a lease that ran out) lost its message with a worker
-- that died before starting it: it is made due now (or when its wait ends), so the sweeper sends a new
-- message on its next tick.
-- KEYS[1] job hash, KEYS[2] deadlines zset
-- ARGV[1] job id, ARGV[2] Unix time the message was delivered
-- Returns 'rescheduled', 'used' (claimed since), 'running', 'finished' or 'missing'. Only 'running' means
-- the message may still be needed.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'missing'
end
if status == 'succeeded' or status == 'failed' or status == 'canceled' then
  return 'finished'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if status == 'running' and tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') > now then
  return 'running'
end
if tonumber(redis.call('HGET', KEYS[1], 'claimed_at') or '0') >= tonumber(ARGV[2]) then
  return 'used'
end
local due = math.max(now, tonumber(redis.call('HGET', KEYS[1], 'run_after') or '0'))
redis.call('ZADD', KEYS[2], due, ARGV[1])
return 'rescheduled'
