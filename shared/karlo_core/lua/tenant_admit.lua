-- Admit new jobs of a tenant, all or none: under its concurrent-job cap, into its job index.
-- KEYS[1] the tenant's job index (lex-ordered zset), KEYS[2] the tenant's active jobs zset (score: admission time)
-- ARGV[1] cap (0: none), ARGV[2] job hash key prefix, ARGV[3] recording grace seconds, ARGV[4..] job ids
-- Finished jobs leave the active set lazily: only when the cap would be passed are their statuses read. A job
-- with no record yet is being accepted (its inputs stored, its record about to be written) and counts as
-- active; only once it has had no record for the grace period was its API process lost, and its place is freed.
-- Returns 1 when admitted, 0 when admitting them all would pass the cap of jobs in progress.
local cap = tonumber(ARGV[1])
local count = #ARGV - 3
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if cap > 0 then
  if redis.call('ZCARD', KEYS[2]) + count > cap then
    local stale_before = now - tonumber(ARGV[3])
    local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    for i = 1, #entries, 2 do
      local id, admitted = entries[i], tonumber(entries[i + 1])
      local status = redis.call('HGET', ARGV[2] .. id, 'status')
      local finished = status == 'succeeded' or status == 'failed' or status == 'canceled'
      if finished or (not status and admitted < stale_before) then
        redis.call('ZREM', KEYS[2], id)
      end
    end
    if redis.call('ZCARD', KEYS[2]) + count > cap then
      return 0
    end
  end
end
for i = 4, #ARGV do
  if cap > 0 then redis.call('ZADD', KEYS[2], now, ARGV[i]) end
  redis.call('ZADD', KEYS[1], 0, ARGV[i])
end
return 1
