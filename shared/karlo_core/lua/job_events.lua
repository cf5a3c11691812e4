-- Library (included by the job transition scripts): record the webhook event of a status change in the
-- job's outbox and schedule its delivery, in the same atomic step as the change itself.
-- The delivery keeps a snapshot of the job as it was at the event, so the body shows the event's status.
local JOB_EVENTS = {
  running = 'job.started', waiting_for_quota = 'job.waiting_for_quota',
  succeeded = 'job.succeeded', failed = 'job.failed', canceled = 'job.canceled',
}
local NOT_IN_SNAPSHOT = {lease_token = true, lease_until = true, event_seq = true}

local function record_job_event(job_key, deliveries_key, schedule_key, job_id, old_status, new_status, now)
  local event = JOB_EVENTS[new_status]
  if old_status == new_status or not event then return end
  local url = redis.call('HGET', job_key, 'webhook_url')
  if not url or url == '' then return end
  local filter = redis.call('HGET', job_key, 'webhook_events') or ''
  if filter ~= '' and not string.find(' ' .. filter .. ' ', ' ' .. event .. ' ', 1, true) then return end
  local seq = redis.call('HINCRBY', job_key, 'event_seq', 1)
  local flat = redis.call('HGETALL', job_key)
  local snapshot = {}
  for i = 1, #flat, 2 do
    if not NOT_IN_SNAPSHOT[flat[i]] then snapshot[flat[i]] = flat[i + 1] end
  end
  local at = string.format('%.6f', now)
  local record = {
    id = 'msg_' .. job_id .. '_' .. seq, seq = seq, event = event, job_status = new_status, url = url,
    created_at = at, next_at = at, status = 'pending', round_start = 0, job = snapshot,
  }
  redis.call('HSET', deliveries_key, seq, cjson.encode(record))
  redis.call('ZADD', schedule_key, now, job_id .. ':' .. seq)
end
