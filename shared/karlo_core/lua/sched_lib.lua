-- Library: the fair scheduler's queues (included by job_create, the transition scripts and sched_dispatch).
-- Per backend: one queue per tenant (a zset job id -> order score: accepted_at minus the priority's offset),
-- and the active tenants (a zset tenant -> virtual start tag, start-time fair queuing counted in images).
-- A tenant becoming active starts at max(virtual clock, its last finish tag); dispatching n of its images
-- moves its tag on by n / weight; the virtual clock is the tag of the last dispatch. A tenant whose queue
-- empties leaves the active set (its finish tag is kept), so its share goes to the others.
-- A queued job's hash names its place: sched_backend, sched_tenant, sched_score, sched_images.
-- Key names are those of karlo_core.keys (tests check they agree).

local SCHED_PREFIX = 'karloq:sched:'

local function sched_key(backend, part) return SCHED_PREFIX .. backend .. ':' .. part end
local function sched_queue_key(backend, tenant) return sched_key(backend, 'q:' .. tenant) end
local function sched_job_key(job_id) return 'karloq:job:' .. job_id end

-- Make a tenant active (if it is not) at max(virtual clock, its last finish tag).
local function sched_activate(backend, tenant)
  local tenants = sched_key(backend, 'tenants')
  if redis.call('ZSCORE', tenants, tenant) then return end
  local clock = tonumber(redis.call('GET', sched_key(backend, 'vclock')) or '0')
  local finish = tonumber(redis.call('HGET', sched_key(backend, 'finish'), tenant) or '0')
  redis.call('ZADD', tenants, math.max(clock, finish), tenant)
end

-- A queued job's place (its hash's fields, as field/value pairs): its backend, tenant, order score, images,
-- and since when it waits (kept by a job put back: ``sched_push`` writes it only when absent).
local function sched_place_fields(backend, tenant, score, images, now)
  return {'sched_backend', backend, 'sched_tenant', tenant, 'sched_score', string.format('%.6f', score),
    'sched_images', tostring(images), 'sched_since', string.format('%.6f', now)}
end

-- Put a job whose hash holds its place (``sched_place_fields``) in its tenant's queue.
local function sched_enter(backend, tenant, job_id, score, images)
  if redis.call('ZADD', sched_queue_key(backend, tenant), score, job_id) == 1 then
    redis.call('HINCRBY', sched_key(backend, 'images'), tenant, images)
  end
  sched_activate(backend, tenant)
end

-- Put a job in its tenant's queue (or back in it, keeping nothing else of where it was).
local function sched_push(backend, tenant, job_id, score, images, now)
  local place = sched_place_fields(backend, tenant, score, images, now)
  redis.call('HSET', sched_job_key(job_id), unpack(place, 1, 8))
  redis.call('HSETNX', sched_job_key(job_id), place[9], place[10])
  sched_enter(backend, tenant, job_id, score, images)
end

-- Take a job out of its tenant's queue if it is there (a cancel); true when it was.
local function sched_remove(job_id)
  local f = redis.call('HMGET', sched_job_key(job_id), 'sched_backend', 'sched_tenant', 'sched_images')
  if not f[1] then return false end
  redis.call('SREM', sched_key(f[1], 'inflight'), job_id)
  local queue = sched_queue_key(f[1], f[2])
  if redis.call('ZREM', queue, job_id) == 0 then return false end
  if redis.call('HINCRBY', sched_key(f[1], 'images'), f[2], -tonumber(f[3])) <= 0 then
    redis.call('HDEL', sched_key(f[1], 'images'), f[2])
  end
  if redis.call('ZCARD', queue) == 0 then
    local tag = redis.call('ZSCORE', sched_key(f[1], 'tenants'), f[2])
    if tag then redis.call('HSET', sched_key(f[1], 'finish'), f[2], tag) end
    redis.call('ZREM', sched_key(f[1], 'tenants'), f[2])
  end
  return true
end

-- Put a job that was dispatched back at the head of its tenant's queue (Karlo said its quota is spent, or
-- an attempt came without a reservation of its own, or a retry waits out its backoff: 'run_after' on the job,
-- which the dispatcher respects). Its reservation and deadline go.
local function sched_requeue(job_id, deadlines_key, now)
  local job_key = sched_job_key(job_id)
  local f = redis.call('HMGET', job_key, 'sched_backend', 'sched_tenant', 'sched_score', 'sched_images', 'spec',
    'backend')
  local backend = f[1] or f[6] or 'karlo'
  local tenant = f[2] or cjson.decode(f[5])['tenant'] or 'default'
  local score = tonumber(f[3] or now)
  local head = redis.call('ZRANGE', sched_queue_key(backend, tenant), 0, 0, 'WITHSCORES')
  if #head > 0 then score = math.min(score, tonumber(head[2]) - 0.001) end
  redis.call('ZREM', deadlines_key, job_id)
  redis.call('HDEL', job_key, 'reservation', 'reservation_attempt', 'quota_denied')
  redis.call('SREM', sched_key(backend, 'inflight'), job_id)
  sched_push(backend, tenant, job_id, score, tonumber(f[4] or '1'), now)
end
