-- Create a job record once, and give it a dispatch deadline.
-- KEYS[1] job hash, KEYS[2] deadlines zset
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] initial status, ARGV[4] dispatch grace seconds,
-- ARGV[5..] more field/value pairs (the job's webhook target)
-- Returns 1 when created, 0 when a job with that id already exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'status', ARGV[3], 'attempts', 0)
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
return 1
