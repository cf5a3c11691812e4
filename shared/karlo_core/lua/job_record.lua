-- Library: write a new job's record (job_create.lua, job_accept.lua): its hash, its dispatch deadline (or its
-- place in its tenant's scheduler queue), the Idempotency-Key record naming it (with a key), then its
-- job.queued event in the tenant's stream (when the job names one). The checks come first
-- (``job_record_check``), so a script can make all its checks before its first write.
--!include job_events
--!include sched_lib

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

-- ``fields``: more field/value pairs (a flat list: the job's webhook target, its event streams, its batch; a
-- queued job's place in its tenant's queue, ``sched_place_fields``). ``due_in``: seconds until the job's dispatch
-- deadline; nil for a job put in its tenant's scheduler queue instead (``job_record_enqueue``, or the place
-- among ``fields`` and ``sched_enter``), since the dispatcher gives it a deadline as it hands it out.
-- The hash is written in one command; returns what was written (field/value pairs, values as strings).
local function job_record_write(job_key, deadlines_key, idem_key, job_id, spec_json, status, due_in, idem_record,
                                keep, fields, now)
  if idem_record ~= '' then
    redis.call('SET', idem_key, idem_record, 'EX', keep)
  end
  local written = {'spec', spec_json, 'status', status, 'attempts', '0'}
  for i = 1, #fields do written[#written + 1] = tostring(fields[i]) end
  redis.call('HSET', job_key, unpack(written))
  if due_in then redis.call('ZADD', deadlines_key, now + due_in, job_id) end
  return written
end

-- The new job's job.queued event (with the job as written, its queue place included), once it is written.
-- ``written``: everything the new job's hash holds (``job_record_write``'s answer, its place included), so
-- the snapshot and the stream's settings come from it instead of being read back; nil reads them.
local function job_record_announce(job_key, job_id, spec_json, now, written)
  local spec = cjson.decode(spec_json)
  local entry, note
  if written then
    local snapshot, f = {}, {}
    for i = 1, #written, 2 do
      f[written[i]] = written[i + 1]
      if not NOT_IN_SNAPSHOT[written[i]] then snapshot[written[i]] = written[i + 1] end
    end
    if not f.events_stream or f.events_stream == '' then return end
    entry, note = stream_append(f.events_stream, f.events_keep, f.events_live, job_id, spec.kind, 'job.queued',
      'job_snapshot', snapshot, spec.batch, now)
  else
    entry, note = append_stream_event(job_key, job_id, 'job.queued', 'job_snapshot', job_snapshot(job_key),
      spec.batch, now)
  end
  if entry then
    -- kept so that withdrawing the job (job_withdraw.lua) can take its event back
    redis.call('HSET', job_key, 'events_entry', entry, 'events_note', note or '')
  end
end

-- Put a just-written job in its tenant's queue of the fair scheduler (lua/sched_lib.lua), ordered by its
-- acceptance time less its priority's ``offset``; its backend and tenant come from its record.
local function job_record_enqueue(job_key, job_id, spec_json, offset, images, now)
  local backend = redis.call('HGET', job_key, 'backend') or 'karlo'
  local tenant = cjson.decode(spec_json)['tenant'] or 'default'
  sched_push(backend, tenant, job_id, now - offset, images, now)
end
