"""``Prefer: wait=N`` (RFC 7240) on job creation: hold the answer until the job finishes, up to N seconds."""

from __future__ import annotations

import asyncio
import contextlib
import re

import redis.asyncio as aioredis

from karlo_api.event_hub import EventHub
from karlo_core.jobs import TERMINAL_STATUSES, Job
from karlo_core.jobstore import read_job

_WAIT = re.compile(r"^\s*wait\s*=\s*(\d{1,6})\s*$", re.IGNORECASE)
#: How often a waiting request reads its job even without an event (a safety net, not the way it wakes).
CHECK_SECONDS = 1.0


def requested_wait(prefer: str | None, limit: int) -> int | None:
    """The seconds asked for in a ``Prefer`` header, at most ``limit``; None when it asks for no wait."""
    for preference in (prefer or "").replace(";", ",").split(","):
        match = _WAIT.match(preference)
        if match:
            return min(int(match.group(1)), limit)
    return None


async def wait_until_finished(
    hub: EventHub, client: aioredis.Redis, tenant: str, job_id: str, seconds: float
) -> Job | None:
    """The job once it reached a terminal status, or as it stands when ``seconds`` ran out.

    Woken by the job's own terminal event (the API's event reader, :meth:`EventHub.watch_job`), which carries
    the job as it ended; the job is read again every ``CHECK_SECONDS`` too, in case that event went missing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with hub.watch_job(tenant, job_id) as ended:
        job = await read_job(client, job_id)
        while job is not None and job.status not in TERMINAL_STATUSES:
            left = deadline - loop.time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                shown = await asyncio.wait_for(asyncio.shield(ended), min(left, CHECK_SECONDS))
                if shown is not None and shown.status in TERMINAL_STATUSES:
                    return shown
            job = await read_job(client, job_id) or job
    return job
