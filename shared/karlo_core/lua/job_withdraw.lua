-- Withdraw a job that could not be dispatched after all: its record, its outbox, its deadline, and the
-- job.queued event its creation wrote (with its note on the live stream; a stream left empty goes too), so a
-- refused request leaves nothing behind.
-- KEYS[1] job hash, KEYS[2] deadlines zset, KEYS[3] the job's deliveries hash
-- ARGV[1] job id
local function drop_entry(stream, entry)
  if not stream or stream == '' or not entry or entry == '' then return end
  redis.call('XDEL', stream, entry)
  if redis.call('XLEN', stream) == 0 then redis.call('DEL', stream) end
end
local fields = redis.call('HMGET', KEYS[1], 'events_stream', 'events_entry', 'events_live', 'events_note')
drop_entry(fields[1], fields[2])
drop_entry(fields[3], fields[4])
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
