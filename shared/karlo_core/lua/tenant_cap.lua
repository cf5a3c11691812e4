-- Library: admit new jobs of a tenant under its concurrent-job cap, into its job index (tenant_admit.lua, and
-- job_accept.lua for a single job). Checking and writing are two steps, so a script may check everything it
-- must before it writes anything.
-- Finished jobs leave the active set lazily: only when the cap would be passed are their statuses read. A job
-- with no record yet is being accepted (its inputs stored, its record about to be written) and counts as
-- active; only once it has had no record for the grace period was its API process lost, and its place is freed.

-- True when ``count`` more jobs fit under ``cap`` (0: no cap) in the active set ``active_key``.
local function cap_has_room(active_key, cap, count, job_prefix, grace, now)
  if cap <= 0 or redis.call('ZCARD', active_key) + count <= cap then return true end
  local stale_before = now - grace
  local entries = redis.call('ZRANGE', active_key, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local id, admitted = entries[i], tonumber(entries[i + 1])
    local status = redis.call('HGET', job_prefix .. id, 'status')
    local finished = status == 'succeeded' or status == 'failed' or status == 'canceled'
    if finished or (not status and admitted < stale_before) then
      redis.call('ZREM', active_key, id)
    end
  end
  return redis.call('ZCARD', active_key) + count <= cap
end

-- Index the jobs and, under a cap, count them active from ``now``.
local function admit_jobs(index_key, active_key, cap, job_ids, now)
  for _, id in ipairs(job_ids) do
    if cap > 0 then redis.call('ZADD', active_key, now, id) end
    redis.call('ZADD', index_key, 0, id)
  end
end
