-- Accept a job in one atomic step: read the tenant's plan (lua/plan_lib.lua), check the job's priority against
-- the plan's highest, the plan's quota share and its concurrent-job cap, record the job (its hash, index entry,
-- job.queued event, and the Idempotency-Key record naming it) and put it in its tenant's queue of the fair
-- scheduler (lua/sched_lib.lua); all of it or, when a check refuses, none of it. The plan is read here, on
-- every accept, so a plan change applies to the next job and accepting stays one round trip.
-- Every check comes before the first write, so no job exists outside its tenant's queue and no queue entry
-- without its job. Then one step of the fair scheduler for the job's backend (lua/sched_step.lua) hands out
-- whatever can run now, this job or others, pushing their Celery messages in this same step when the broker is
-- this Redis: a job is in its tenant's queue or handed out with its message (or, with another broker, with a
-- short dispatch deadline for the caller to send it within).
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the tenant's job index, KEYS[4] the tenant's active jobs,
-- KEYS[5] the Idempotency-Key record (any key without one), KEYS[6] quota clock override, KEYS[7..16] the
-- dispatch step's keys, KEYS[17] the tenant's plan hash, KEYS[18..21] the upstream quota scope, KEYS[22..25]
-- the tenant's share (each: minute zset, minute total, day counter, month counter).
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] the key's record naming this job ('' without a key), ARGV[4] the
-- claim's token, ARGV[5] the job's images, ARGV[6] its priority's offset in the queue's order (seconds),
-- ARGV[7] the settings, space-separated (fixed per process and day): job hash key prefix, recording grace
-- seconds, seconds the key's record is kept, minute window seconds, day start, day end, month start, month
-- end, quota clock overrides enabled, then the plan defaults: cap (0: none), highest priority, share per
-- minute, day, month (0: none), and the priorities lowest first, comma-separated; ARGV[8] the dispatch step's
-- arguments, space-separated (fixed per process, backend and day); ARGV[9] the job's priority, ARGV[10] '1'
-- when the tenant share's day and month must fit the images (a hosted-Karlo job); ARGV[11..] more field/value
-- pairs for the job hash.
-- Returns {'accepted', now, share..., usage..., the dispatch step's reply...} | {'quota', now, share...,
-- usage...} | {'priority', the plan's highest} | {'cap', cap} | {'exists'} | {'key_taken'} | {'stale', now};
-- share: the plan's share per minute, day, month (all 0: none, and usage covers the upstream scope only);
-- usage: per scope, minute used, minute reset time, day used, month used.
--!include quota_lib
--!include tenant_cap
--!include job_record
--!include sched_step
--!include plan_lib
local job_key, job_id = KEYS[1], ARGV[1]
local cfg = {}
for word in string.gmatch(ARGV[7], '%S+') do cfg[#cfg + 1] = word end
local job_prefix, grace, keep = cfg[1], tonumber(cfg[2]), tonumber(cfg[3])
local window, day_start, day_end = tonumber(cfg[4]), tonumber(cfg[5]), tonumber(cfg[6])
local month_start, month_end, overrides = tonumber(cfg[7]), tonumber(cfg[8]), cfg[9]
local t = redis.call('TIME')
local clock = tonumber(t[1]) + tonumber(t[2]) / 1e6  -- job times are Redis TIME, whatever the quota clock says
local now = clock  -- the quota clock: Redis TIME, or the test-only override when enabled and set
if overrides == '1' then now = tonumber(redis.call('GET', KEYS[6]) or clock) end
if now < day_start or now >= day_end or now < month_start or now >= month_end then
  return {'stale', quota_fmt(now)}
end

-- 1. Checks, before any write: the plan's highest priority, its quota share, its cap.
local plan = plan_read(KEYS[17], {minute = cfg[12], day = cfg[13], month = cfg[14], max_active = cfg[10],
  max_priority = cfg[11]})
local rank, ranks = {}, 0
for name in string.gmatch(cfg[15], '[^,]+') do ranks = ranks + 1; rank[name] = ranks end
if (rank[ARGV[9]] or 0) > (rank[plan.max_priority] or 0) then return {'priority', plan.max_priority} end
local share = {tostring(plan.minute), tostring(plan.day), tostring(plan.month)}  -- all '0' without a share
local usage = quota_usages({unpack(KEYS, 18, plan.shared and 25 or 21)}, now, window)
local images = tonumber(ARGV[5])
if ARGV[10] == '1' and plan.shared then
  local day_used, month_used = tonumber(usage[7]), tonumber(usage[8])
  if plan_limit(plan.day) - day_used < images or plan_limit(plan.month) - month_used < images then
    return {'quota', quota_fmt(now), share[1], share[2], share[3], unpack(usage)}
  end
end
local cap = plan.max_active
if not cap_has_room(KEYS[4], cap, 1, job_prefix, grace, clock) then
  return {'cap', tostring(cap)}
end
local recordable = job_record_check(job_key, KEYS[5], ARGV[3], ARGV[4])
if recordable == 0 then return {'exists'} end
if recordable == -1 then return {'key_taken'} end

-- 2. Writes: the job with its place in its tenant's queue (one HSET), the queue, then its job.queued event.
local fields = {unpack(ARGV, 11)}
local backend = 'karlo'
for i = 1, #fields, 2 do
  if fields[i] == 'backend' then backend = fields[i + 1] end
end
local tenant = cjson.decode(ARGV[2])['tenant'] or 'default'
local score = clock - tonumber(ARGV[6])
for _, value in ipairs(sched_place_fields(backend, tenant, score, images, clock)) do fields[#fields + 1] = value end
admit_jobs(KEYS[3], KEYS[4], cap, {job_id}, clock)
local written = job_record_write(job_key, KEYS[2], KEYS[5], job_id, ARGV[2], 'queued', nil, ARGV[3], keep, fields,
  clock)

-- ENQUEUE: the one place an accepted job is handed on to run.
sched_enter(backend, tenant, job_id, score, images)
-- END ENQUEUE

job_record_announce(job_key, job_id, ARGV[2], clock, written)

-- 3. Hand out what can run now.
local step_args = {}
for word in string.gmatch(ARGV[8], '%S+') do step_args[#step_args + 1] = word end
local reply = {'accepted', quota_fmt(now), share[1], share[2], share[3], unpack(usage)}
for _, value in ipairs(sched_dispatch_step({unpack(KEYS, 7, 16)}, step_args)) do reply[#reply + 1] = value end
return reply
