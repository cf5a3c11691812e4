-- Take the members of a schedule whose time has passed, pushing each one's time forward by a lease so
-- that concurrent takers do not take the same member twice. Serves the job deadlines (the sweeper
-- re-dispatches jobs) and the webhook schedule (the dispatcher sends due deliveries, whose attempt then
-- sets the real next time).
-- KEYS[1] schedule zset (member -> Unix time it is due)
-- ARGV[1] max members, ARGV[2] lease seconds
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(members) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), member)
end
return members
