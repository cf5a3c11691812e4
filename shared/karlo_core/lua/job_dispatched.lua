-- A job's message was sent (by the API for a new job, by the sweeper for a due one): move its deadline from
-- the short one set while sending to the last-resort one, unless the job moved on meanwhile (a worker
-- claimed it since: its lease, or the retry it scheduled, is the deadline then). A running job is one whose
-- worker's lease ran out: the message is for whoever takes it over.
-- KEYS[1] job hash, KEYS[2] deadlines zset
-- ARGV[1] job id, ARGV[2] seconds until the last-resort deadline, ARGV[3] Redis time the sending began
-- (0 for a new job: any claim at all counts)
-- Records 'dispatched_at', for the check that the message still exists (``JobStore.lost_dispatches``).
-- Returns 1 when moved, 0 otherwise.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'running' then
  if tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') > now then
    return 0
  end
elseif status ~= 'queued' and status ~= 'waiting_for_quota' then
  return 0
end
local claimed_at = redis.call('HGET', KEYS[1], 'claimed_at')
if claimed_at and tonumber(claimed_at) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[1], 'dispatched_at', string.format('%.6f', now))
return 1
