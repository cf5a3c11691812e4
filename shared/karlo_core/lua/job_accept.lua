-- Accept a job in one atomic step: check the tenant's quota share and its concurrent-job cap, record the job
-- (its hash, index entry, dispatch deadline, job.queued event, and the Idempotency-Key record naming it) and
-- push its run-job message; all of it or, when a check refuses, none of it. Every check comes before the
-- first write, so no job exists without its message and no message without its job.
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the tenant's job index, KEYS[4] the tenant's active jobs,
-- KEYS[5] the Idempotency-Key record (any key without one), KEYS[6] quota clock override, KEYS[7] the queue,
-- then per quota scope: minute zset, minute total, day counter, month counter.
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] cap (0: none), ARGV[4] job hash key prefix, ARGV[5] recording
-- grace seconds, ARGV[6] the key's record naming this job ('' without a key), ARGV[7] the claim's token,
-- ARGV[8] seconds the key's record is kept, ARGV[9] the job's images, ARGV[10] the scope (1-based) whose day
-- and month must fit them (0: none), ARGV[11] minute window seconds, ARGV[12] day start, ARGV[13] day end,
-- ARGV[14] month start, ARGV[15] month end, ARGV[16] quota clock overrides enabled, ARGV[17] '1' to push the
-- message here ('0': the caller sends it, the broker being another Redis), ARGV[18] task name, ARGV[19] task
-- id, ARGV[20] delivery tag, ARGV[21] origin, ARGV[22] seconds until the job's deadline, ARGV[23] the checked
-- scope's day limit, ARGV[24] its month limit, ARGV[25..] more field/value pairs for the job hash.
-- Returns {'accepted', now, usage...} | {'quota', now, usage...} | {'cap'} | {'exists'} | {'key_taken'} |
-- {'stale', now}; usage: per scope, minute used, minute reset time, day used, month used.
--!include quota_windows
--!include tenant_cap
--!include job_record
--!include celery_message
local job_key, job_id = KEYS[1], ARGV[1]
local push = ARGV[17] == '1'
if push and not celery_queue_ok(KEYS[7]) then
  return redis.error_reply('WRONGTYPE the queue ' .. KEYS[7] .. ' is not a list')
end
local now = quota_clock(KEYS[6], ARGV[16])
if now < tonumber(ARGV[12]) or now >= tonumber(ARGV[13]) or now < tonumber(ARGV[14]) or now >= tonumber(ARGV[15]) then
  return {'stale', fmt(now)}
end

-- 1. Checks, before any write.
local usage = quota_usages({unpack(KEYS, 8)}, now, tonumber(ARGV[11]))
local images, checked = tonumber(ARGV[9]), tonumber(ARGV[10])
if checked > 0 then
  local day_used, month_used = tonumber(usage[4 * checked - 1]), tonumber(usage[4 * checked])
  if tonumber(ARGV[23]) - day_used < images or tonumber(ARGV[24]) - month_used < images then
    return {'quota', fmt(now), unpack(usage)}
  end
end
local t = redis.call('TIME')
local clock = tonumber(t[1]) + tonumber(t[2]) / 1e6  -- job times are Redis TIME, whatever the quota clock says
if not cap_has_room(KEYS[4], tonumber(ARGV[3]), 1, ARGV[4], tonumber(ARGV[5]), clock) then
  return {'cap'}
end
local recordable = job_record_check(job_key, KEYS[5], ARGV[6], ARGV[7])
if recordable == 0 then return {'exists'} end
if recordable == -1 then return {'key_taken'} end

-- 2. Writes: the job, then its message.
admit_jobs(KEYS[3], KEYS[4], tonumber(ARGV[3]), {job_id}, clock)
job_record_write(job_key, KEYS[2], KEYS[5], job_id, ARGV[2], 'queued', tonumber(ARGV[22]), ARGV[6],
  tonumber(ARGV[8]), {unpack(ARGV, 25)}, clock)

-- ENQUEUE: the one place an accepted job is handed on to run.
if push then
  celery_push(KEYS[7], ARGV[18], job_id, ARGV[19], ARGV[20], ARGV[21])
  redis.call('HSET', job_key, 'dispatched_at', fmt(clock))  -- as job_dispatched.lua records a sent message
end
-- END ENQUEUE

return {'accepted', fmt(now), unpack(usage)}
