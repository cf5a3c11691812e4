-- Put a recorded job in its tenant's queue of the fair scheduler (lua/sched_lib.lua) at Redis's time, its
-- order score being that time minus its priority's offset.
-- ARGV[1] backend, ARGV[2] tenant, ARGV[3] job id, ARGV[4] priority offset seconds, ARGV[5] images
--!include sched_lib
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
sched_push(ARGV[1], ARGV[2], ARGV[3], now - tonumber(ARGV[4]), tonumber(ARGV[5]), now)
return 1
