-- Count active jobs by status for one slice of the deadlines zset, in Redis, without a round trip per job.
-- Called slice by slice so no single call blocks Redis for long. Reads job hashes it is not given in KEYS
-- (their names come from the zset), which a single Redis allows; read-only.
-- KEYS[1] deadlines zset
-- ARGV[1] job hash key prefix (keys.job('')), ARGV[2] first rank, ARGV[3] last rank
-- Returns {status, count, status, count, ...}; an empty table once the slice is past the end.
local ids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])
local counts = {}
for _, id in ipairs(ids) do
  local status = redis.call('HGET', ARGV[1] .. id, 'status')
  if status then
    counts[status] = (counts[status] or 0) + 1
  end
end
local reply = {}
for status, n in pairs(counts) do
  reply[#reply + 1] = status
  reply[#reply + 1] = n
end
if #ids > 0 and #reply == 0 then
  reply = {'', 0}
end
return reply
