-- Create a job record once, give it a dispatch deadline, and (with an Idempotency-Key) record the job under
-- the key in the same step, so a repeat of the request finds this job even if the API dies right after. Its
-- job.queued event goes to the tenant's stream (when the job names one).
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the Idempotency-Key record (only with ARGV[5])
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] initial status, ARGV[4] seconds until the first deadline,
-- ARGV[5] the key's record naming this job ('' without a key), ARGV[6] the claim's token, ARGV[7] seconds the
-- record is kept, ARGV[8..] more field/value pairs (the job's webhook target, its event streams, its batch)
-- A job whose pairs name 'sched_offset' (its priority's offset) and 'sched_images' goes into its tenant's
-- queue of the fair scheduler (lua/sched_lib.lua) instead of getting a dispatch deadline: the dispatcher
-- hands it out.
-- Returns 1 when created, 0 when a job with that id already exists, -1 when the key is no longer this
-- request's claim (its lease ran out and another request took the key).
--!include job_events
--!include sched_lib
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if ARGV[5] ~= '' then
  local held = redis.call('GET', KEYS[3])
  if held and cjson.decode(held)['token'] ~= ARGV[6] then
    return -1
  end
  redis.call('SET', KEYS[3], ARGV[5], 'EX', tonumber(ARGV[7]))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'status', ARGV[3], 'attempts', 0)
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
local spec = cjson.decode(ARGV[2])
local offset = redis.call('HGET', KEYS[1], 'sched_offset')
if offset then
  local backend = redis.call('HGET', KEYS[1], 'backend') or 'karlo'
  local images = tonumber(redis.call('HGET', KEYS[1], 'sched_images') or '1')
  sched_push(backend, spec.tenant or 'default', ARGV[1], now - tonumber(offset), images, now)
else
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
end
local snapshot = job_snapshot(KEYS[1])
local entry, note = append_stream_event(KEYS[1], ARGV[1], 'job.queued', 'job_snapshot', snapshot, spec.batch, now)
if entry then
  -- kept so that withdrawing the job (job_withdraw.lua) can take its event back
  redis.call('HSET', KEYS[1], 'events_entry', entry, 'events_note', note or '')
end
return 1
