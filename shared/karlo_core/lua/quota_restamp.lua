-- Move a held reservation's minute-log entries to now, just before its upstream call (lua/quota_restamp_lib.lua,
-- which says why and when it is safe). A claim does the same for the reservation made for its attempt
-- (lua/job_claim.lua).
-- KEYS[1] clock override, KEYS[2] reservation record; ARGV[1] minute window seconds, ARGV[2] overrides enabled
-- Returns 1 when moved, 0 when the reservation is not held or its entries left the window.
--!include quota_restamp_lib
return quota_restamp(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2])
