-- Make a new signing secret a tenant's primary; the old primary keeps signing until its grace period ends.
-- KEYS[1] the tenant's secrets hash
-- ARGV[1] new secret, ARGV[2] grace seconds
-- Returns {created_at, previous_until or ''}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local fmt = function(x) return string.format('%.6f', x) end
local old = redis.call('HGET', KEYS[1], 'primary')
local until_ = ''
if old and tonumber(ARGV[2]) > 0 then
  until_ = fmt(now + tonumber(ARGV[2]))
  redis.call('HSET', KEYS[1], 'previous', old, 'previous_until', until_)
else
  redis.call('HDEL', KEYS[1], 'previous', 'previous_until')
end
redis.call('HSET', KEYS[1], 'primary', ARGV[1], 'created_at', fmt(now))
return {fmt(now), until_}
