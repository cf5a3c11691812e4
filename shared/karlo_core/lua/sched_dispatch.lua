-- One step of the fair scheduler for one backend (lua/sched_step.lua, which describes it, its keys K = KEYS
-- and its arguments A = ARGV, and its reply).
--!include sched_step
return sched_dispatch_step(KEYS, ARGV)
