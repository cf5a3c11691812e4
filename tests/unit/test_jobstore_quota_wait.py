"""A job's wait for quota is remembered across re-parks and forgotten once the job settles otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core.jobs import JobError, JobStatus
from karlo_core.jobstore import JobStore
from support.jobs import new_job
from support.stacks import Services


@pytest.fixture
def store(services: Services) -> Iterator[JobStore]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield JobStore(client)
    client.close()


def test_wait_start_is_kept_while_parked_and_cleared_after(store: JobStore) -> None:
    job = new_job()
    assert store.create(job, dispatch_grace=60)
    assert store.claim(job.id, "a", lease_seconds=30).claimed
    assert store.wait_for_quota(job.id, "a", eta=time.time(), delay=0, since=1000.5)
    parked = store.get(job.id)
    assert parked is not None and (parked.status, parked.quota_wait_since) == (JobStatus.WAITING_FOR_QUOTA, 1000.5)

    assert store.claim(job.id, "b", lease_seconds=30).claimed
    assert store.release(job.id, "b", next_deadline=1, error=JobError("x", "y"), failures=1)
    released = store.get(job.id)
    assert released is not None and released.quota_wait_since is None
