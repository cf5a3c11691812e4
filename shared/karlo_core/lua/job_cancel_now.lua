-- Library (included by job_cancel, job_claim and job_settle): end a job as canceled at once. Its lease and
-- deadline go, it leaves its tenant's scheduler queue, completed_at is set and its job.canceled event is
-- recorded, in the same atomic step.
--!include job_events
--!include sched_lib

local function cancel_now(job_key, deadlines_key, deliveries_key, schedule_key, job_id, old_status, now)
  redis.call('HSET', job_key, 'status', 'canceled', 'completed_at', string.format('%.6f', now))
  redis.call('HDEL', job_key, 'lease_token', 'lease_until')
  redis.call('ZREM', deadlines_key, job_id)
  sched_remove(job_id)
  record_job_event(job_key, deliveries_key, schedule_key, job_id, old_status, 'canceled', now)
end
