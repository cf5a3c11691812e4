-- Give a reservation's images back, exactly once, when the upstream call certainly generated nothing.
-- KEYS[1] reservation record, then per scope: minute zset, minute total, day counter, month counter.
-- Returns 1 when refunded, 0 when already refunded or unknown.
if redis.call('HGET', KEYS[1], 'state') ~= 'held' then
  return 0
end
local n = tonumber(redis.call('HGET', KEYS[1], 'images'))
local member = redis.call('HGET', KEYS[1], 'member')
for i = 2, #KEYS, 4 do
  if redis.call('ZREM', KEYS[i], member) == 1 then redis.call('DECRBY', KEYS[i + 1], n) end
  if redis.call('EXISTS', KEYS[i + 2]) == 1 then redis.call('DECRBY', KEYS[i + 2], n) end
  if redis.call('EXISTS', KEYS[i + 3]) == 1 then redis.call('DECRBY', KEYS[i + 3], n) end
end
redis.call('HSET', KEYS[1], 'state', 'refunded')
return 1
