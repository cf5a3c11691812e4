-- Admit new jobs of a tenant, all or none: under its concurrent-job cap, into its job index.
-- KEYS[1] the tenant's job index (lex-ordered zset), KEYS[2] the tenant's active jobs zset
-- ARGV[1] cap (0: none), ARGV[2] job hash key prefix, ARGV[3..] job ids
-- Finished jobs leave the active set lazily: only when the cap would be passed are their statuses read.
-- Returns 1 when admitted, 0 when admitting them all would pass the cap of jobs in progress.
local cap = tonumber(ARGV[1])
local count = #ARGV - 2
if cap > 0 then
  if redis.call('ZCARD', KEYS[2]) + count > cap then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      local status = redis.call('HGET', ARGV[2] .. id, 'status')
      if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then
        redis.call('ZREM', KEYS[2], id)
      end
    end
    if redis.call('ZCARD', KEYS[2]) + count > cap then
      return 0
    end
  end
end
for i = 3, #ARGV do
  if cap > 0 then redis.call('ZADD', KEYS[2], 0, ARGV[i]) end
  redis.call('ZADD', KEYS[1], 0, ARGV[i])
end
return 1
