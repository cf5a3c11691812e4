-- Admit a new job of a tenant: under its concurrent-job cap, into its job index.
-- KEYS[1] the tenant's job index (lex-ordered zset), KEYS[2] the tenant's active jobs zset
-- ARGV[1] job id, ARGV[2] cap (0: none), ARGV[3] job hash key prefix
-- Finished jobs leave the active set lazily: only when the cap is reached are their statuses read.
-- Returns 1 when admitted, 0 when the tenant already has `cap` jobs in progress.
local cap = tonumber(ARGV[2])
if cap > 0 then
  if redis.call('ZCARD', KEYS[2]) >= cap then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      local status = redis.call('HGET', ARGV[3] .. id, 'status')
      if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then
        redis.call('ZREM', KEYS[2], id)
      end
    end
    if redis.call('ZCARD', KEYS[2]) >= cap then
      return 0
    end
  end
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1
