-- Record a delivery attempt and what follows: another try later, delivered, dead-lettered, or disabled.
-- KEYS[1] the job's deliveries hash, KEYS[2] webhook schedule zset, KEYS[3] tenant's dead letters zset,
-- KEYS[4] tenant's disabled endpoints hash
-- ARGV[1] seq, ARGV[2] schedule member, ARGV[3] attempt JSON ('' when nothing was sent),
-- ARGV[4] new status: pending | delivered | dead | disabled, ARGV[5] seconds until the next attempt (pending),
-- ARGV[6] 1 when the receiver answered 410 Gone (the endpoint is disabled for the tenant)
-- Returns 'ok', or 'stale' when the delivery is no longer pending (a duplicate run recorded it first).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 'missing' end
local record = cjson.decode(raw)
if record.status ~= 'pending' then return 'stale' end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if ARGV[3] ~= '' then
  if type(record.attempts) ~= 'table' or #record.attempts == 0 then record.attempts = {} end
  table.insert(record.attempts, cjson.decode(ARGV[3]))
end
record.status = ARGV[4]
if ARGV[4] == 'pending' then
  local next_at = now + tonumber(ARGV[5])
  record.next_at = string.format('%.6f', next_at)
  redis.call('ZADD', KEYS[2], next_at, ARGV[2])
else
  record.next_at = nil
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if ARGV[4] == 'delivered' then record.delivered_at = string.format('%.6f', now) end
if ARGV[4] == 'dead' then redis.call('ZADD', KEYS[3], now, ARGV[2]) end
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[4], record.url, cjson.encode({at = string.format('%.6f', now), delivery_id = record.id}))
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 'ok'
