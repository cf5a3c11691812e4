-- Take the active jobs whose deadline has passed, pushing each deadline forward by the grace period
-- so that concurrent sweepers do not pick the same job twice.
-- KEYS[1] deadlines zset
-- ARGV[1] max ids, ARGV[2] grace seconds
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
end
return ids
