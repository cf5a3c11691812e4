-- Record a running job's progress, only for the worker that holds its lease, and show it on the tenant's event
-- stream as job.progress (stream only, no webhook). The stream gets at most one progress event per step
-- change and per ARGV[3] seconds, whichever is fewer, but always the last step (step == total): the step
-- and time of the last one sent are kept in the job's 'progress_sent' field.
-- KEYS[1] job hash
-- ARGV[1] lease token, ARGV[2] progress JSON, ARGV[3] least seconds between two progress events of the job,
-- ARGV[4] job id
-- Returns 1 when a cancel has been requested (the worker stops), 0 otherwise.
--!include job_events
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then
  return redis.call('HGET', KEYS[1], 'cancel_requested') == '1' and 1 or 0
end
redis.call('HSET', KEYS[1], 'progress', ARGV[2])
local progress = cjson.decode(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local sent_step, sent_at = string.match(redis.call('HGET', KEYS[1], 'progress_sent') or '', '^(%-?%d+) ([%d.]+)$')
local step_changed = sent_step == nil or tonumber(sent_step) ~= progress.step
local last_step = progress.step >= progress.total
if step_changed and (last_step or sent_at == nil or now - tonumber(sent_at) >= tonumber(ARGV[3])) then
  local spec = cjson.decode(redis.call('HGET', KEYS[1], 'spec'))
  if append_stream_event(KEYS[1], ARGV[4], 'job.progress', 'progress', progress, spec.batch, now) then
    redis.call('HSET', KEYS[1], 'progress_sent', string.format('%d %.6f', progress.step, now))
  end
end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  return 1
end
return 0
