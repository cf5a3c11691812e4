-- Admit a new job of a tenant: under its concurrent-job cap, into its job index.
-- KEYS[1] the tenant's job index (lex-ordered zset), KEYS[2] the tenant's active jobs zset (score: admission time)
-- ARGV[1] job id, ARGV[2] cap (0: none), ARGV[3] job hash key prefix, ARGV[4] recording grace seconds
-- Finished jobs leave the active set lazily: only when the cap is reached are their statuses read. A job with
-- no record yet is being accepted (its inputs stored, its record about to be written) and counts as active;
-- only once it has had no record for the grace period was its API process lost, and its place is freed.
-- Returns 1 when admitted, 0 when the tenant already has `cap` jobs in progress.
local cap = tonumber(ARGV[2])
if cap > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
  if redis.call('ZCARD', KEYS[2]) >= cap then
    local stale_before = now - tonumber(ARGV[4])
    local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    for i = 1, #entries, 2 do
      local id, admitted = entries[i], tonumber(entries[i + 1])
      local status = redis.call('HGET', ARGV[3] .. id, 'status')
      local finished = status == 'succeeded' or status == 'failed' or status == 'canceled'
      if finished or (not status and admitted < stale_before) then
        redis.call('ZREM', KEYS[2], id)
      end
    end
    if redis.call('ZCARD', KEYS[2]) >= cap then
      return 0
    end
  end
  redis.call('ZADD', KEYS[2], now, ARGV[1])
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1
