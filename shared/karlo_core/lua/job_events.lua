-- Library (included by the job transition scripts): record the event of a status change, in the same atomic
-- step as the change itself, in the job's webhook outbox (scheduling its delivery) and in the tenant's event
-- stream (read by the API's server-sent events), so a webhook and a stream never disagree.
-- Both keep a snapshot of the job as it was at the event, so the body shows the event's status.
local JOB_EVENTS = {
  running = 'job.started', waiting_for_quota = 'job.waiting_for_quota',
  succeeded = 'job.succeeded', failed = 'job.failed', canceled = 'job.canceled',
}
-- Streams also show a job entering the queue (on creation, and again after a failed attempt).
local STREAM_ONLY_EVENTS = {queued = 'job.queued'}
local TERMINAL = {succeeded = true, failed = true, canceled = true}
local NOT_IN_SNAPSHOT = {
  lease_token = true, lease_until = true, event_seq = true, events_stream = true, events_live = true,
  events_keep = true, events_entry = true, events_note = true, batch_key = true, progress_sent = true,
}

local function job_snapshot(job_key)
  local flat = redis.call('HGETALL', job_key)
  local snapshot = {}
  for i = 1, #flat, 2 do
    if not NOT_IN_SNAPSHOT[flat[i]] then snapshot[flat[i]] = flat[i + 1] end
  end
  return snapshot
end

-- Append an event to ``stream`` (a tenant's), trimmed to its length and age as ``keep`` says ('max_len max_age
-- live_len'), and note it on the live stream ``live`` (none when '') the API processes block on. Returns the
-- entry id and the note's id.
local function stream_append(stream, keep, live, job_id, kind, event, body_kind, body, batch_id, now)
  local max_len, max_age, live_len = string.match(keep or '', '^(%d+) (%d+) (%d+)$')
  local id = redis.call('XADD', stream, 'MAXLEN', '~', max_len or 10000, '*',
    'event', event, 'job', job_id, 'kind', kind, 'batch', batch_id or '',
    'at', string.format('%.6f', now), body_kind, cjson.encode(body))
  if max_age then
    redis.call('XTRIM', stream, 'MINID', math.floor((now - tonumber(max_age)) * 1000))
  end
  local note = nil
  if live and live ~= '' then
    note = redis.call('XADD', live, 'MAXLEN', '~', live_len or 10000, '*', 'stream', stream, 'id', id)
  end
  return id, note
end

-- Append an event to the tenant's stream named by the job (jobs created before streams name none), as
-- ``stream_append`` does, the stream and its settings read from the job. Returns the entry id and the note's id.
local function append_stream_event(job_key, job_id, event, body_kind, body, batch_id, now)
  local f = redis.call('HMGET', job_key, 'events_stream', 'events_keep', 'events_live', 'spec')
  if not f[1] or f[1] == '' then return nil end
  return stream_append(f[1], f[2], f[3], job_id, cjson.decode(f[4]).kind, event, body_kind, body, batch_id, now)
end

-- A webhook delivery record in the job's outbox, due now.
local function add_delivery(job_key, deliveries_key, schedule_key, job_id, event, job_status, url, snapshot,
                            now, extra)
  local seq = redis.call('HINCRBY', job_key, 'event_seq', 1)
  local at = string.format('%.6f', now)
  local record = {
    id = 'msg_' .. job_id .. '_' .. seq, seq = seq, event = event, job_status = job_status, url = url,
    created_at = at, next_at = at, status = 'pending', round_start = 0, job = snapshot,
  }
  for name, value in pairs(extra or {}) do record[name] = value end
  redis.call('HSET', deliveries_key, seq, cjson.encode(record))
  redis.call('ZADD', schedule_key, now, job_id .. ':' .. seq)
end

-- Count a batch job's end; the last one to finish records the batch's one batch.completed event (stream, and
-- a webhook delivery in this job's outbox when the batch has a receiver). A finished batch is kept as long
-- as its jobs are (its 'keep_seconds'), then expires.
local function finish_batch_job(job_key, deliveries_key, schedule_key, job_id, status, snapshot, now)
  local batch_key = redis.call('HGET', job_key, 'batch_key')
  if not batch_key or batch_key == '' or redis.call('EXISTS', batch_key) == 0 then return end
  if redis.call('SADD', batch_key .. ':finished', job_id) == 0 then return end
  redis.call('HINCRBY', batch_key, status, 1)
  local finished = redis.call('SCARD', batch_key .. ':finished')
  if finished < tonumber(redis.call('HGET', batch_key, 'total')) then return end
  redis.call('HSET', batch_key, 'completed_at', string.format('%.6f', now))
  local keep = tonumber(redis.call('HGET', batch_key, 'keep_seconds') or '')
  if keep then
    for _, key in ipairs({batch_key, batch_key .. ':jobs', batch_key .. ':finished'}) do
      redis.call('EXPIRE', key, keep)
    end
  end
  local batch = {}
  local flat = redis.call('HGETALL', batch_key)
  for i = 1, #flat, 2 do batch[flat[i]] = flat[i + 1] end
  append_stream_event(job_key, job_id, 'batch.completed', 'batch_snapshot', batch, batch.id, now)
  local url = batch.webhook_url
  if url and url ~= '' then
    add_delivery(job_key, deliveries_key, schedule_key, job_id, 'batch.completed', status, url, snapshot, now,
      {batch = batch})
  end
end

local function record_job_event(job_key, deliveries_key, schedule_key, job_id, old_status, new_status, now)
  if old_status == new_status then return end
  local event = JOB_EVENTS[new_status]
  local stream_event = event or STREAM_ONLY_EVENTS[new_status]
  if not stream_event then return end
  local snapshot = job_snapshot(job_key)
  local spec = cjson.decode(snapshot.spec)
  append_stream_event(job_key, job_id, stream_event, 'job_snapshot', snapshot, spec.batch, now)
  if event then
    local url = redis.call('HGET', job_key, 'webhook_url')
    local filter = redis.call('HGET', job_key, 'webhook_events') or ''
    if url and url ~= '' and (filter == '' or string.find(' ' .. filter .. ' ', ' ' .. event .. ' ', 1, true)) then
      add_delivery(job_key, deliveries_key, schedule_key, job_id, event, new_status, url, snapshot, now)
    end
  end
  if TERMINAL[new_status] then
    finish_batch_job(job_key, deliveries_key, schedule_key, job_id, new_status, snapshot, now)
  end
end
