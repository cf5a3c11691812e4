-- Admit new jobs of a tenant, all or none: under its concurrent-job cap, into its job index.
-- KEYS[1] the tenant's job index (lex-ordered zset), KEYS[2] the tenant's active jobs zset (score: admission time)
-- ARGV[1] cap (0: none), ARGV[2] job hash key prefix, ARGV[3] recording grace seconds, ARGV[4..] job ids
-- Returns 1 when admitted, 0 when admitting them all would pass the cap of jobs in progress.
--!include tenant_cap
local cap = tonumber(ARGV[1])
local ids = {unpack(ARGV, 4)}
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if not cap_has_room(KEYS[2], cap, #ids, ARGV[2], tonumber(ARGV[3]), now) then
  return 0
end
admit_jobs(KEYS[1], KEYS[2], cap, ids, now)
return 1
