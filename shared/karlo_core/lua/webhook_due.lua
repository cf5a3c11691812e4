-- Take the webhook deliveries whose next attempt is due, pushing each one's time forward by a lease so
-- concurrent dispatchers do not send the same one twice; the attempt's outcome then sets the real time.
-- KEYS[1] webhook schedule zset
-- ARGV[1] max members, ARGV[2] lease seconds
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(members) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), member)
end
return members
