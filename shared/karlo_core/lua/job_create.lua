-- Create a job record once, and give it a dispatch deadline; its job.queued event goes to the tenant's stream.
-- KEYS[1] job hash, KEYS[2] deadlines zset
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] initial status, ARGV[4] dispatch grace seconds,
-- ARGV[5..] more field/value pairs (the job's webhook target, its event streams, its batch)
-- Returns 1 when created, 0 when a job with that id already exists.
--!include job_events
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'status', ARGV[3], 'attempts', 0)
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
local snapshot = job_snapshot(KEYS[1])
local spec = cjson.decode(ARGV[2])
local entry, note = append_stream_event(KEYS[1], ARGV[1], 'job.queued', 'job_snapshot', snapshot, spec.batch, now)
if entry then
  -- kept so that withdrawing the job (job_withdraw.lua) can take its event back
  redis.call('HSET', KEYS[1], 'events_entry', entry, 'events_note', note or '')
end
return 1
