-- Library: a backend's pace, what a job's run measured (included by job_settle.lua, where a job succeeds).
-- Per backend, a hash (karlo_core.keys.sched_pace): exponentially weighted means of a job's run in seconds
-- (its last claim to its settle, on Redis's clock) and of its images, the runs counted, and when the last
-- was noted. karlo_core.local_eta estimates a local backend's queued jobs' start from it; until one run is
-- noted there is no pace, and no estimate.
--!include sched_lib

-- Weight of the newest run in the means: the pace follows a change (another model, other steps) within a few
-- jobs, and one odd run moves it by under a third.
local SCHED_PACE_WEIGHT = 0.3

local function sched_note_run(job_key, now)
  local f = redis.call('HMGET', job_key, 'claimed_at', 'sched_backend', 'sched_images')
  if not f[1] or not f[2] then return end
  local seconds = math.max(now - tonumber(f[1]), 0)
  local images = tonumber(f[3] or '1')
  local pace_key = sched_key(f[2], 'pace')
  local old = redis.call('HMGET', pace_key, 'seconds', 'images', 'runs')
  local runs = tonumber(old[3] or '0')
  if runs > 0 then
    seconds = tonumber(old[1]) + SCHED_PACE_WEIGHT * (seconds - tonumber(old[1]))
    images = tonumber(old[2]) + SCHED_PACE_WEIGHT * (images - tonumber(old[2]))
  end
  redis.call('HSET', pace_key, 'seconds', string.format('%.6f', seconds), 'images', string.format('%.6f', images),
    'runs', runs + 1, 'at', string.format('%.6f', now))
end
