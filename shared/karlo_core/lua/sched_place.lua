-- What a queued job's place and estimated start are computed from (karlo_core.scheduler.Scheduler.place), read
-- in one round trip: the job's rank in its tenant queue and the first jobs of that queue with their images and
-- backoff, the upstream minute log with each entry's hand-out time, the blocked head, Karlo's blocked-until,
-- the tenant's plan and its day and month counters, and the other active tenants by virtual tag with their
-- queued jobs, images and weights. It only reads.
-- K[1] clock override, K[2] blocked-until, K[3] upstream minute log, K[4] the tenant's queue,
-- K[5] queued images per tenant, K[6] blocked head, K[7] active tenants, K[8] the tenant's plan,
-- K[9..] day and month counters to read (the upstream's, then the tenant share's)
-- A[1] backend, A[2] tenant, A[3] job id ('' for none), A[4] queued jobs to read, A[5] tenants to read,
-- A[6] clock overrides enabled
-- Returns {now, rank ('' if not queued), queued jobs, queued images, blocked-until, head job, head since,
-- the tenant's tag ('' if not active), counters (one per K[9..]), the plan as field/value pairs,
-- then three lists, each as a count then its items: per queued job read: id, images, run_after;
-- per minute-log entry: images, time, hand-out time; per other active tenant by tag: id, tag, queued jobs,
-- queued images, weight ('' for the default)}
--!include quota_lib
--!include sched_lib

local backend, tenant, job_id = ARGV[1], ARGV[2], ARGV[3]
local now = quota_clock(KEYS[1], ARGV[6])
local rank = job_id ~= '' and redis.call('ZRANK', KEYS[4], job_id) or nil
local head = redis.call('HMGET', KEYS[6], 'job', 'since')
local out = {quota_fmt(now), rank and tostring(rank) or '', redis.call('ZCARD', KEYS[4]),
  redis.call('HGET', KEYS[5], tenant) or '0', redis.call('GET', KEYS[2]) or '0', head[1] or '', head[2] or '',
  redis.call('ZSCORE', KEYS[7], tenant) or ''}
for i = 9, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '0' end
local plan = redis.call('HGETALL', KEYS[8])
out[#out + 1] = #plan
for _, v in ipairs(plan) do out[#out + 1] = v end

local queued = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[4]) - 1)
out[#out + 1] = #queued
for _, id in ipairs(queued) do
  local f = redis.call('HMGET', sched_job_key(id), 'sched_images', 'run_after')
  out[#out + 1] = id
  out[#out + 1] = f[1] or '1'
  out[#out + 1] = f[2] or '0'
end

local log = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
out[#out + 1] = #log / 2
for i = 1, #log, 2 do
  local member = log[i]
  local sent = redis.call('HGET', sched_job_key(string.match(member, '^(.*):[^:]*:%d+$') or member),
    'sched_dispatched_at')
  out[#out + 1] = quota_images_of(member)
  out[#out + 1] = log[i + 1]
  out[#out + 1] = sent or log[i + 1]
end

local tenants = redis.call('ZRANGE', KEYS[7], 0, tonumber(ARGV[5]) - 1, 'WITHSCORES')
local others = {}
for i = 1, #tenants, 2 do
  local other = tenants[i]
  if other ~= tenant then
    table.insert(others, {other, tenants[i + 1], redis.call('ZCARD', sched_queue_key(backend, other)),
      redis.call('HGET', KEYS[5], other) or '0', redis.call('HGET', 'karloq:plan:' .. other, 'weight') or ''})
  end
end
out[#out + 1] = #others
for _, row in ipairs(others) do
  for _, v in ipairs(row) do out[#out + 1] = v end
end
return out
