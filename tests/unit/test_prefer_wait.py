"""``Prefer: wait`` wakes on the job's own terminal event, read by the API's event reader, not by polling."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from karlo_api import prefer
from karlo_api.event_hub import EventHub
from karlo_core.jobs import Job, JobStatus
from karlo_core.jobstore import EventRetention, JobStore
from support.jobs import create_job
from support.stacks import Services


def _queued_job(store: JobStore, tenant: str) -> Job:
    return create_job(store, events=EventRetention(100, 3600), tenant=tenant)


def test_a_wait_ends_with_the_jobs_terminal_event(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefer, "CHECK_SECONDS", 3600.0)  # only the event can end this wait in time
    sync = redis.Redis.from_url(services.redis_url, decode_responses=True)
    store = JobStore(sync)
    job = _queued_job(store, "t_waiting")

    async def main() -> Job | None:
        hub = EventHub(services.redis_url, per_tenant=1)
        client = aioredis.Redis.from_url(services.redis_url, decode_responses=True)
        hub.render = str  # no stream is open: nothing is rendered
        try:
            waiting = asyncio.create_task(prefer.wait_until_finished(hub, client, "t_waiting", job.id, 30))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await asyncio.to_thread(store.cancel, job.id)
            return await asyncio.wait_for(waiting, 20)
        finally:
            await hub.stop()
            await client.aclose()

    ended = asyncio.run(main())
    assert ended is not None and ended.status is JobStatus.CANCELED
    assert ended.id == job.id
    sync.close()


def test_a_job_that_ended_before_the_wait_is_answered_at_once(services: Services) -> None:
    sync = redis.Redis.from_url(services.redis_url, decode_responses=True)
    store = JobStore(sync)
    job = _queued_job(store, "t_done")
    store.cancel(job.id)

    async def main() -> Job | None:
        hub = EventHub(services.redis_url, per_tenant=1)
        client = aioredis.Redis.from_url(services.redis_url, decode_responses=True)
        try:
            return await prefer.wait_until_finished(hub, client, "t_done", job.id, 30)
        finally:
            await hub.stop()
            await client.aclose()

    ended = asyncio.run(main())
    assert ended is not None and ended.status is JobStatus.CANCELED
    sync.close()
