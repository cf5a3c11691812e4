-- Library: write a new job's record (job_create.lua, job_accept.lua): its hash, its dispatch deadline, the
-- Idempotency-Key record naming it (with a key), and its job.queued event in the tenant's stream (when the
-- job names one). The checks come first (``job_record_check``), so a script can make all its checks before
-- its first write.
--!include job_events

-- 1 when the job may be written, 0 when a job with that id exists, -1 when the Idempotency-Key (``idem_key``,
-- with a record to write) is no longer this request's claim (its lease ran out and another request took it).
local function job_record_check(job_key, idem_key, idem_record, token)
  if redis.call('EXISTS', job_key) == 1 then return 0 end
  if idem_record ~= '' then
    local held = redis.call('GET', idem_key)
    if held and cjson.decode(held)['token'] ~= token then return -1 end
  end
  return 1
end

-- ``fields``: more field/value pairs (a flat list: the job's webhook target, its event streams, its batch).
local function job_record_write(job_key, deadlines_key, idem_key, job_id, spec_json, status, due_in, idem_record,
                                keep, fields, now)
  if idem_record ~= '' then
    redis.call('SET', idem_key, idem_record, 'EX', keep)
  end
  redis.call('HSET', job_key, 'spec', spec_json, 'status', status, 'attempts', 0)
  for i = 1, #fields, 2 do
    redis.call('HSET', job_key, fields[i], fields[i + 1])
  end
  redis.call('ZADD', deadlines_key, now + due_in, job_id)
  local snapshot = job_snapshot(job_key)
  local spec = cjson.decode(spec_json)
  local entry, note = append_stream_event(job_key, job_id, 'job.queued', 'job_snapshot', snapshot, spec.batch, now)
  if entry then
    -- kept so that withdrawing the job (job_withdraw.lua) can take its event back
    redis.call('HSET', job_key, 'events_entry', entry, 'events_note', note or '')
  end
end
