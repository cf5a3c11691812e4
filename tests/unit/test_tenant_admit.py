"""The concurrent-job cap holds while jobs are still being accepted: a job without a record yet is not finished."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core import keys
from karlo_core.ids import new_job_id
from karlo_core.jobs import JobStatus
from karlo_core.jobstore import JobStore
from karlo_core.tenant_jobs import RECORDING_GRACE_SECONDS, TenantJobs
from support.jobs import create_job
from support.stacks import Services

CAP = 3


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url.rsplit("/", 1)[0] + "/0", decode_responses=True)
    yield connection
    connection.close()


def test_jobs_being_accepted_count_against_the_cap(client: redis.Redis) -> None:
    jobs = TenantJobs(client)
    admitted = [jobs.admit("t1", new_job_id(), cap=CAP) for _ in range(CAP + 2)]
    assert admitted == [True] * CAP + [False, False]


def test_concurrent_acceptances_never_exceed_the_cap(client: redis.Redis) -> None:
    """Many requests at once, each admitted and then slow to write its record, as a real acceptance is."""
    jobs = TenantJobs(client)
    store = JobStore(client)
    start = threading.Barrier(24)
    admitted: list[str] = []

    def accept() -> None:
        job_id = new_job_id()
        start.wait()
        for _ in range(3):
            if jobs.admit("t2", job_id, cap=CAP):
                admitted.append(job_id)
                time.sleep(0.2)  # storing inputs
                create_job(store, id=job_id, tenant="t2")
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=accept) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == CAP


def test_finished_jobs_and_long_unrecorded_ones_free_their_place(client: redis.Redis) -> None:
    jobs = TenantJobs(client)
    store = JobStore(client)
    done, lost, running = new_job_id(), new_job_id(), new_job_id()
    for job_id in (done, lost, running):
        assert jobs.admit("t3", job_id, cap=CAP)
    create_job(store, id=done, tenant="t3", status=JobStatus.SUCCEEDED)
    create_job(store, id=running, tenant="t3")
    # `lost` was admitted by an API process that died before writing its record, long ago.
    client.zadd(keys.tenant_active_jobs("t3"), {lost: time.time() - RECORDING_GRACE_SECONDS - 5})
    assert jobs.admit("t3", new_job_id(), cap=CAP)
    assert jobs.admit("t3", new_job_id(), cap=CAP)
    assert not jobs.admit("t3", new_job_id(), cap=CAP)
    assert set(client.zrange(keys.tenant_active_jobs("t3"), 0, -1)) >= {running}
