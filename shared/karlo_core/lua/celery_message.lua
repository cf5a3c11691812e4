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
-- UUID); ``origin`` names the sender. The message's JSON is written out around its varying strings (each
-- JSON-encoded): encoding it from a table of tables cost several times more, on every job handed out.
local function celery_push(queue, task, job_id, task_id, delivery_tag, origin)
  local enc = cjson.encode
  local id = enc(task_id)
  local body = '[[], {"job_id":' .. enc(job_id) .. '}, {"callbacks": null, "errbacks": null, "chain": null, '
    .. '"chord": null}]'
  local message = '{"body":' .. enc(body) .. ',"content-encoding":"utf-8","content-type":"application/json",'
    .. '"headers":{"lang":"py","task":' .. enc(task) .. ',"id":' .. id .. ',"shadow":null,"eta":null,'
    .. '"expires":null,"group":null,"group_index":null,"retries":0,"timelimit":[null,null],"root_id":' .. id
    .. ',"parent_id":null,"argsrepr":"()","kwargsrepr":' .. enc(python_str_dict({'job_id', job_id}))
    .. ',"origin":' .. enc(origin) .. ',"ignore_result":null,"replaced_task_nesting":0,"stamped_headers":null,'
    .. '"stamps":{}},"properties":{"correlation_id":' .. id .. ',"reply_to":"","delivery_mode":2,'
    .. '"delivery_info":{"exchange":"","routing_key":' .. enc(queue) .. '},"priority":0,"delivery_tag":'
    .. enc(delivery_tag) .. '}}'
  return redis.call('LPUSH', queue, message)
end

-- True when ``queue`` can take a push (a list, or no key yet): checked before a script's first write, so a
-- push that would fail fails before anything was written.
local function celery_queue_ok(queue)
  local kind = redis.call('TYPE', queue)['ok']
  return kind == 'list' or kind == 'none'
end
