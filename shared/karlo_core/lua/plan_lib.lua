-- Library: a tenant's plan (karlo_core.plans), read where it is used, so a change takes effect at once
-- (included by sched_step, for weights and quota shares, and job_accept, for the cap, the highest priority and
-- the quota share's day and month).
-- A plan is a hash (keys.plan) whose absent fields take the defaults given: a table {weight, minute, day,
-- month, max_active, max_priority} of settings values (a default left nil leaves that field nil).
-- Returns {weight, minute, day, month, max_active, max_priority, shared}: numbers but max_priority; a limit of
-- 0 is none; shared is true when the plan sets a quota share of its own (some limit above 0).

-- A share's window limit when the plan sets none (Python's karlo_core.quota.policy.UNLIMITED).
local PLAN_UNLIMITED = 1e12

local function plan_number(value, default)
  local found = value or default
  if found == nil then return nil end
  return tonumber(found)
end

local function plan_read(plan_key, defaults)
  local f = redis.call('HMGET', plan_key, 'weight', 'per_minute', 'per_day', 'per_month', 'max_active',
    'max_priority')
  local plan = {weight = plan_number(f[1], defaults.weight), minute = plan_number(f[2], defaults.minute),
    day = plan_number(f[3], defaults.day), month = plan_number(f[4], defaults.month),
    max_active = plan_number(f[5], defaults.max_active), max_priority = f[6] or defaults.max_priority}
  if plan.weight ~= nil and plan.weight <= 0 then plan.weight = tonumber(defaults.weight) end
  plan.shared = plan.minute > 0 or plan.day > 0 or plan.month > 0
  return plan
end

-- A share's window limit: the plan's, or unlimited where it sets none (0).
local function plan_limit(value) return value > 0 and value or PLAN_UNLIMITED end
