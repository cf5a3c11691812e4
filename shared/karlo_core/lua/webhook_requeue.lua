-- Send a delivery again from the start of the retry schedule (a manual retry, or a dead-letter replay).
-- KEYS[1] the job's deliveries hash, KEYS[2] webhook schedule zset, KEYS[3] tenant's dead letters zset
-- ARGV[1] seq, ARGV[2] schedule member
-- Returns the status the delivery had, or 'missing' (its job was deleted: it leaves the schedules too).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 'missing'
end
local record = cjson.decode(raw)
local before = record.status
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local attempts = 0
if type(record.attempts) == 'table' then attempts = #record.attempts end
record.status = 'pending'
record.round_start = attempts
record.next_at = string.format('%.6f', now)
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return before
