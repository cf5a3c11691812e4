-- Create a job record once, give it a dispatch deadline, and (with an Idempotency-Key) record the job under
-- the key in the same step, so a repeat of the request finds this job even if the API dies right after. Its
-- job.queued event goes to the tenant's stream (when the job names one).
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the Idempotency-Key record (only with ARGV[5])
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] initial status, ARGV[4] seconds until the first deadline,
-- ARGV[5] the key's record naming this job ('' without a key), ARGV[6] the claim's token, ARGV[7] seconds the
-- record is kept, ARGV[8..] more field/value pairs (the job's webhook target, its event streams, its batch)
-- Returns 1 when created, 0 when a job with that id already exists, -1 when the key is no longer this
-- request's claim (its lease ran out and another request took the key).
--!include job_record
local checked = job_record_check(KEYS[1], KEYS[3], ARGV[5], ARGV[6])
if checked ~= 1 then
  return checked
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
job_record_write(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5],
  tonumber(ARGV[7]), {unpack(ARGV, 8)}, now)
return 1
