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
--!include job_record
local checked = job_record_check(KEYS[1], KEYS[3], ARGV[5], ARGV[6])
if checked ~= 1 then
  return checked
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local fields = {unpack(ARGV, 8)}
local offset, images
for i = 1, #fields, 2 do
  if fields[i] == 'sched_offset' then offset = tonumber(fields[i + 1]) end
  if fields[i] == 'sched_images' then images = tonumber(fields[i + 1]) end
end
job_record_write(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], (not offset) and tonumber(ARGV[4]) or nil,
  ARGV[5], tonumber(ARGV[7]), fields, now)
if offset then job_record_enqueue(KEYS[1], ARGV[1], ARGV[2], offset, images or 1, now) end
job_record_announce(KEYS[1], ARGV[1], ARGV[2], now)
return 1
