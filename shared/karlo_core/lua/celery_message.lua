-- Library: push a Celery task message onto a queue the way kombu's Redis transport does, so a script can
-- enqueue a task in the same atomic step as the record the task is about (job_accept.lua).
-- The message is Celery's protocol 2 in JSON, as ``Celery.send_task`` builds it for a task called with
-- keyword arguments only, published to the default exchange (routed by queue name) with priority 0: kombu
-- LPUSHes it, JSON-encoded, onto the list named after the queue, and the worker BRPOPs from the other end.
-- The body is plain JSON (no ``body_encoding``), which kombu hands to Celery as it is. The headers carry
-- ``kwargsrepr`` as Python's repr, like Celery's, so the job id is readable without decoding the body
-- (``karlo_core.broker.jobs_with_messages``).

-- Python's repr of a dict of str values, as ``kwargsrepr`` carries it (values here are ids: no quotes inside).
local function python_str_dict(pairs_list)
  local parts = {}
  for i = 1, #pairs_list, 2 do
    parts[#parts + 1] = "'" .. pairs_list[i] .. "': '" .. pairs_list[i + 1] .. "'"
  end
  return '{' .. table.concat(parts, ', ') .. '}'
end

-- LPUSH the message of task ``task`` with the keyword argument ``job_id`` onto ``queue``. ``task_id`` is the
-- task's id; ``delivery_tag`` names the message while a worker holds it unacknowledged (unique, like a
-- UUID); ``origin`` names the sender.
local function celery_push(queue, task, job_id, task_id, delivery_tag, origin)
  local null = cjson.null
  local kwargs = cjson.encode({job_id = job_id})
  local body = '[[], ' .. kwargs .. ', {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'
  local message = {
    body = body,
    ['content-encoding'] = 'utf-8',
    ['content-type'] = 'application/json',
    headers = {
      lang = 'py', task = task, id = task_id, shadow = null, eta = null, expires = null, group = null,
      group_index = null, retries = 0, timelimit = {null, null}, root_id = task_id, parent_id = null,
      argsrepr = '()', kwargsrepr = python_str_dict({'job_id', job_id}), origin = origin,
      ignore_result = null, replaced_task_nesting = 0, stamped_headers = null, stamps = {},
    },
    properties = {
      correlation_id = task_id, reply_to = '', delivery_mode = 2,
      delivery_info = {exchange = '', routing_key = queue}, priority = 0, delivery_tag = delivery_tag,
    },
  }
  return redis.call('LPUSH', queue, cjson.encode(message))
end

-- True when ``queue`` can take a push (a list, or no key yet): checked before a script's first write, so a
-- push that would fail fails before anything was written.
local function celery_queue_ok(queue)
  local kind = redis.call('TYPE', queue)['ok']
  return kind == 'list' or kind == 'none'
end
