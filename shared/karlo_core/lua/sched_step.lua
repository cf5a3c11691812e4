-- Library: one dispatch step of the fair scheduler (sched_dispatch.lua, the workers' and the API's step; and
-- job_accept.lua, the step right after a job is accepted, in the same script).
-- Hand out up to N jobs of one backend, in the fair scheduler's order, atomically (many workers on many
-- machines may call it at once; each job is handed out once).
-- Order: the active tenant with the smallest virtual start tag, then its queue by score (lua/sched_lib.lua).
-- Capacity: for hosted Karlo ('quota'), the job's images must fit the upstream windows and the tenant's plan
-- windows, and are reserved here (lua/quota_lib.lua), the reservation id written on the job for the attempt
-- that will claim it. For a local backend ('slots'), jobs handed out and not finished stay under the slots
-- (the setting, or the ready workers of that backend by their heartbeats).
-- When the head job does not fit the upstream quota, later jobs that fit may fill what is left of the window,
-- but only while the head has been blocked less than the bound; after that nothing passes it. A job that fits
-- passes the waiting jobs ahead of it only when no image of the minute log frees up within the fill gate
-- (A[31] seconds; the step wakes for that release), and taking it now moves none of their fit times (replayed
-- in order on the log's releases, sched_fit_times) later by more than the fill tolerance (A[30] seconds):
-- fillers choose from the whole remainder once a burst of releases is over, and take only what the jobs they
-- pass cannot use by then, so which jobs go in a window turns on the log, not on the moment a step comes (the
-- estimate replays the same rule: karlo_core.scheduler._pick). A tenant held
-- by its own plan's limit is passed over (that limit is its own, not the others'). A job that waits is shown
-- as waiting_for_quota with its quota_eta. A retry waiting out its backoff ('run_after') is passed over until
-- then. A job handed out leaves its queue in the same step: it is always in exactly one place.
-- Its message: when the broker is this Redis (A[26] '1') and the backend's queue (K[10]) can take a push, the
-- step pushes each job's Celery message itself (lua/celery_message.lua) and gives the job the last-resort
-- deadline (A[29] seconds), as a sent message gets; otherwise the caller sends the messages, and the job gets
-- the short dispatch deadline (A[20] seconds), after which the sweeper resends a message lost after this step.
-- K[1] clock override, K[2] blocked-until, K[3] deadlines zset, K[4] webhook schedule zset,
-- K[5..8] upstream scope: minute zset, minute total, day counter, month counter, K[9] backend workers zset,
-- K[10] the backend's Celery queue
-- A[1] backend, A[2] most jobs to hand out, A[3] 'quota' or 'slots', A[4] minute window seconds,
-- A[5] day start, A[6] day end, A[7] month start, A[8] month end, A[9] day label,
-- A[10] month label, A[11] clock overrides enabled, A[12] reservation record ttl,
-- A[13..15] upstream minute/day/month limits, A[16] default weight,
-- A[17..19] default tenant minute/day/month limits (0: none), A[20] seconds until the dispatch deadline,
-- A[21] head-of-line bound seconds, A[22] slots (0: ready workers), A[23] heartbeat max age,
-- A[24] tenants scanned per decision, A[25] jobs scanned per tenant, A[26] '1': push the messages here,
-- A[27] the run-job task's name, A[28] the messages' origin, A[29] seconds until the last-resort deadline,
-- A[30] the fill tolerance seconds, A[31] the fill gate seconds
-- Returns {outcome ('ok', 'stale', 'blocked'), now or blocked-until, wake_at ('' if none), '1' when the
-- messages were pushed here ('0': the caller sends them), then per job handed out: id, priority, seconds it
-- waited}
--!include job_events
--!include quota_lib
--!include sched_lib
--!include plan_lib
--!include celery_message

-- When each of the waiting jobs ``passed`` (their images, in queue order) is expected to fit, replayed in order
-- on the minute log's releases (``release(i)``: the i-th {time, images}, oldest first, or nil past the last;
-- ``used`` images held now), with
-- ``extra`` more images taken now: each at the first moment the images still held leave room for it, then held
-- a window from that moment. math.huge for one that never fits.
local function sched_fit_times(release, used, limit, window, now, passed, extra)
  local out, held, i, j, at = {}, used + extra, 1, 1, now
  local added = {}  -- entries taken after the log's, in release order: the extra, then each passed job's
  if extra > 0 then added[1] = {now + window, extra} end
  for k, images in ipairs(passed) do
    while held + images > limit and at ~= math.huge do
      local r
      local logged = release(i)
      if logged and (not added[j] or logged[1] <= added[j][1]) then
        r = logged; i = i + 1
      else
        r = added[j]; j = j + 1
      end
      if r then
        held = held - r[2]
        if r[1] > at then at = r[1] end
      else
        at = math.huge
      end
    end
    out[k] = at
    held = held + images
    added[#added + 1] = {at + window, images}
  end
  return out
end

local function sched_dispatch_step(K, A)
  local backend, limit, mode = A[1], tonumber(A[2]), A[3]
  local now = quota_clock(K[1], A[11])
  local window = tonumber(A[4])
  local day_end, month_end = tonumber(A[6]), tonumber(A[8])
  if mode == 'quota' then
    if now < tonumber(A[5]) or now >= day_end or now < tonumber(A[7]) or now >= month_end then
      return {'stale', quota_fmt(now), '', '0'}
    end
    local blocked = tonumber(redis.call('GET', K[2]) or '0')
    if blocked > now then return {'blocked', quota_fmt(blocked), quota_fmt(blocked), '0'} end
  end
  -- checked before any push, so a push cannot fail after this step wrote anything
  local push = A[26] == '1' and celery_queue_ok(K[10])
  local tenants_key, head_key = sched_key(backend, 'tenants'), sched_key(backend, 'head')
  local inflight_key = sched_key(backend, 'inflight')
  local bound, scan_tenants, scan_jobs = tonumber(A[21]), tonumber(A[24]), tonumber(A[25])
  local tolerance, gate = tonumber(A[30] or '0'), tonumber(A[31] or '0')
  local upstream = {minute = K[5], total = K[6], day = K[7], month = K[8],
    minute_limit = tonumber(A[13]), day_limit = tonumber(A[14]), month_limit = tonumber(A[15])}
  local free = 0
  if mode == 'quota' then
    quota_expire(upstream, now, window)
  else
    local slots = tonumber(A[22])
    if slots <= 0 then  -- heartbeats are on Redis's own clock, never the quota's test clock
      local t = redis.call('TIME')
      slots = redis.call('ZCOUNT', K[9], tonumber(t[1]) + tonumber(t[2]) / 1e6 - tonumber(A[23]), '+inf')
    end
    local busy = 0
    for _, j in ipairs(redis.call('SMEMBERS', inflight_key)) do
      local status = redis.call('HGET', sched_job_key(j), 'status')
      if status == 'queued' or status == 'waiting_for_quota' or status == 'running' then
        busy = busy + 1
      else
        redis.call('SREM', inflight_key, j)
      end
    end
    free = slots - busy
  end

  local plans = {}
  local function plan_of(tenant)
    if plans[tenant] then return plans[tenant] end
    local plan = plan_read('karloq:plan:' .. tenant, {weight = A[16], minute = A[17], day = A[18], month = A[19]})
    local scopes = {upstream}
    if mode == 'quota' and plan.shared then
      local base = 'karloq:quota:tenant:' .. tenant .. ':'
      local own = {minute = base .. 'minute', total = base .. 'minute-total', day = base .. 'day:' .. A[9],
        month = base .. 'month:' .. A[10], minute_limit = plan_limit(plan.minute),
        day_limit = plan_limit(plan.day), month_limit = plan_limit(plan.month)}
      quota_expire(own, now, window)
      table.insert(scopes, own)
    end
    plan.scopes = scopes
    plans[tenant] = plan
    return plan
  end

  local function mark_waiting(job_id, retry_at)
    local job_key = sched_job_key(job_id)
    if retry_at ~= math.huge then redis.call('HSET', job_key, 'quota_eta', quota_fmt(retry_at)) end
    if redis.call('HGET', job_key, 'status') == 'queued' then
      redis.call('HSET', job_key, 'status', 'waiting_for_quota')
      redis.call('HSETNX', job_key, 'quota_wait_since', quota_fmt(now))
      record_job_event(job_key, job_key .. ':deliveries', K[4], job_id, 'queued', 'waiting_for_quota', now)
    end
  end

  -- How long the head job has been blocked (its record starts when a job first is the blocked head).
  local function blocked_for(job_id)
    local held = redis.call('HMGET', head_key, 'job', 'since')
    if held[1] == job_id then return now - tonumber(held[2]) end
    redis.call('HSET', head_key, 'job', job_id, 'since', quota_fmt(now))
    return 0
  end

  local function hand_out(pick)
    local job_key = sched_job_key(pick.job)
    local queue = sched_queue_key(backend, pick.tenant)
    local job = redis.call('HMGET', job_key, 'attempts', 'sched_since', 'priority')
    local attempt = tonumber(job[1] or '0') + 1
    local written = {'sched_dispatched_at', quota_fmt(now)}  -- the job's fields, written in one HSET at the end
    local function write(field, value) written[#written + 1] = field; written[#written + 1] = value end
    redis.call('ZREM', queue, pick.job)
    if redis.call('HINCRBY', sched_key(backend, 'images'), pick.tenant, -pick.images) <= 0 then
      redis.call('HDEL', sched_key(backend, 'images'), pick.tenant)
    end
    local tag = pick.tag
    if pick.too_large then
      redis.call('HSET', job_key, 'quota_denied', pick.too_large)
    else
      tag = tag + pick.images / pick.plan.weight
      redis.call('SET', sched_key(backend, 'vclock'), quota_fmt(pick.tag))
      redis.call('HINCRBY', sched_key(backend, 'served'), pick.tenant, pick.images)
      if mode == 'quota' then
        local reservation = pick.job .. ':d' .. attempt
        quota_take(pick.plan.scopes, pick.images, reservation, 'karloq:quota:reservation:' .. reservation,
          tonumber(A[12]), now, window, day_end, month_end)
        write('reservation', reservation)
        write('reservation_attempt', attempt)
      else
        redis.call('SADD', inflight_key, pick.job)
        free = free - 1
      end
    end
    if redis.call('ZCARD', queue) > 0 then
      redis.call('ZADD', tenants_key, tag, pick.tenant)
    else
      redis.call('ZREM', tenants_key, pick.tenant)
      redis.call('HSET', sched_key(backend, 'finish'), pick.tenant, quota_fmt(tag))
    end
    local since = job[2] or quota_fmt(now)
    if push then
      -- as job_dispatched.lua records a sent message (Redis time, like a claim's, whatever the quota clock says)
      local t = redis.call('TIME')
      local clock = tonumber(t[1]) + tonumber(t[2]) / 1e6
      local task_id = pick.job .. '-' .. attempt .. '-' .. string.format('%.6f', clock)  -- unique per message
      celery_push(K[10], A[27], pick.job, task_id, task_id, A[28])
      redis.call('ZADD', K[3], clock + tonumber(A[29]), pick.job)
      write('dispatched_at', quota_fmt(clock))
    else
      redis.call('ZADD', K[3], now + tonumber(A[20]), pick.job)
    end
    redis.call('HSET', job_key, unpack(written))
    return {pick.job, job[3] or 'normal', quota_fmt(now - tonumber(since))}
  end

  local out = {'ok', quota_fmt(now), '', push and '1' or '0'}
  local wake = math.huge
  local handed = 0
  local stop = false
  while handed < limit and not stop do
    if mode == 'slots' and free <= 0 then break end
    local tenants = redis.call('ZRANGE', tenants_key, 0, scan_tenants - 1, 'WITHSCORES')
    if #tenants == 0 then break end
    local pick, head_blocked, no_filler = nil, false, false
    local passed = {}  -- images of the waiting jobs passed in this decision, in order (upstream minute only)
    -- the upstream minute log's releases, read oldest first in doubling pages as far as a replay needs them
    local releases, read_all = {}, false
    local function release(e)
      local page = math.max(#releases, 8)
      while e > #releases and not read_all do
        local log = redis.call('ZRANGE', upstream.minute, #releases, #releases + page - 1, 'WITHSCORES')
        for x = 1, #log, 2 do releases[#releases + 1] = {tonumber(log[x + 1]) + window, quota_images_of(log[x])} end
        read_all = #log < 2 * page
        page = page * 2
      end
      return releases[e]
    end
    local held_back = math.huge  -- the fewest images of a job that fits held back (more would delay as much)
    local used, before  -- read or replayed once per decision: nothing is taken until the decision is made
    -- Whether a job of n images that fits now may pass the waiting jobs passed so far: no image frees up within
    -- the gate, and taking it keeps every passed job's fit time within the tolerance of what it is now.
    local function leaves_passed_on_time(n)
      if #passed == 0 then return true end
      if n >= held_back then return false end
      local first = release(1)
      if first and first[1] <= now + gate then
        -- images still free up within the gate (the calls of one step release a few ms apart): nothing
        -- passes until they have, so fillers choose from the whole remainder, whenever a step comes
        wake = math.min(wake, first[1])
        held_back = 0
        return false
      end
      used = used or tonumber(redis.call('GET', upstream.total) or '0')
      local lim = upstream.minute_limit
      if not before or #before ~= #passed then  -- the passed jobs' fit times as they are: one replay per list
        before = sched_fit_times(release, used, lim, window, now, passed, 0)
      end
      local after = sched_fit_times(release, used, lim, window, now, passed, n)
      for k = 1, #passed do
        if after[k] > before[k] + tolerance then
          held_back = n
          return false
        end
      end
      return true
    end
    for i = 1, #tenants, 2 do
      local tenant, tag = tenants[i], tonumber(tenants[i + 1])
      local jobs = redis.call('ZRANGE', sched_queue_key(backend, tenant), 0, scan_jobs - 1)
      if #jobs == 0 then redis.call('ZREM', tenants_key, tenant) end
      local plan = plan_of(tenant)
      for _, job_id in ipairs(jobs) do
        local f = redis.call('HMGET', sched_job_key(job_id), 'sched_images', 'run_after', 'status')
        local images = tonumber(f[1] or '1')
        local run_after = tonumber(f[2] or '0')
        if f[3] ~= 'queued' and f[3] ~= 'waiting_for_quota' then
          sched_remove(job_id)  -- finished or gone without leaving its queue: never hand it out
        elseif run_after > now then
          wake = math.min(wake, run_after)  -- a retry waiting out its backoff: the jobs after it go meanwhile
        elseif mode == 'slots' then
          pick = {tenant = tenant, tag = tag, job = job_id, images = images, plan = plan}
          break
        else
          local denied = quota_check(plan.scopes, images, now, window, day_end, month_end)
          if not denied then
            if leaves_passed_on_time(images) then
              pick = {tenant = tenant, tag = tag, job = job_id, images = images, plan = plan}
              break
            end
            passed[#passed + 1] = images  -- held back for the jobs it passed: it waits its turn after them
          elseif denied[3] == math.huge then
            pick = {tenant = tenant, tag = tag, job = job_id, images = images, plan = plan, too_large = denied[2]}
            break
          elseif denied[1] == 1 then
            mark_waiting(job_id, denied[3])
            wake = math.min(wake, denied[3])
            break
          else
            wake = math.min(wake, denied[3])
            if denied[1] == 0 and denied[2] == 'minute' then passed[#passed + 1] = images end
            if not head_blocked then
              head_blocked = true
              mark_waiting(job_id, denied[3])
              if blocked_for(job_id) >= bound then stop = true break end
            end
            if quota_check({upstream}, 1, now, window, day_end, month_end) then no_filler = true break end
          end
        end
      end
      if pick or stop or no_filler then break end
    end
    if not pick then break end
    if not head_blocked then redis.call('DEL', head_key) end
    local given = hand_out(pick)
    for _, v in ipairs(given) do table.insert(out, v) end
    handed = handed + 1
  end
  if wake ~= math.huge then out[3] = quota_fmt(wake) end
  return out
end
