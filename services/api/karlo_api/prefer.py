"""``Prefer: wait=N`` (RFC 7240) on job creation: hold the answer until the job finishes, up to N seconds."""

from __future__ import annotations

import asyncio
import re

from starlette.concurrency import run_in_threadpool

from karlo_core.jobs import TERMINAL_STATUSES, Job
from karlo_core.jobstore import JobStore

_WAIT = re.compile(r"^\s*wait\s*=\s*(\d{1,6})\s*$", re.IGNORECASE)
#: Polling starts fast, for jobs that finish in a second, and slows down for long ones.
FIRST_POLL_SECONDS = 0.05
LAST_POLL_SECONDS = 0.5


def requested_wait(prefer: str | None, limit: int) -> int | None:
    """The seconds asked for in a ``Prefer`` header, at most ``limit``; None when it asks for no wait."""
    for preference in (prefer or "").replace(";", ",").split(","):
        match = _WAIT.match(preference)
        if match:
            return min(int(match.group(1)), limit)
    return None


async def wait_until_finished(store: JobStore, job_id: str, seconds: float) -> Job | None:
    """The job once it reached a terminal status, or as it stands when ``seconds`` ran out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pause = FIRST_POLL_SECONDS
    job = await run_in_threadpool(store.get, job_id)
    while job is not None and job.status not in TERMINAL_STATUSES:
        left = deadline - loop.time()
        if left <= 0:
            break
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, LAST_POLL_SECONDS)
        job = await run_in_threadpool(store.get, job_id) or job
    return job
