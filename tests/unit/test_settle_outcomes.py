"""Settling a running job says how it ended: settled, canceled instead, or the lease was lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core.jobs import JobError, JobStatus, StoredImage
from karlo_core.jobstore import CancelOutcome, JobStore, SettleOutcome
from support.jobs import create_job
from support.stacks import Services

IMAGE = StoredImage("jobs/x/0.webp", 8, 8, "webp", 10, 1, None, None)


@pytest.fixture
def store(services: Services) -> Iterator[JobStore]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield JobStore(client)
    client.close()


def test_a_settle_by_the_lease_holder_is_settled(store: JobStore) -> None:
    job = create_job(store, grace=60.0)
    store.claim(job.id, "a", lease_seconds=30)
    outcome = store.succeed(job.id, "a", [IMAGE], {})
    assert outcome is SettleOutcome.SETTLED and outcome
    current = store.get(job.id)
    assert current is not None and current.status is JobStatus.SUCCEEDED


def test_a_cancel_while_running_ends_the_job_canceled_whatever_the_worker_reports(store: JobStore) -> None:
    job = create_job(store, grace=60.0)
    store.claim(job.id, "a", lease_seconds=30)
    assert store.cancel(job.id) is CancelOutcome.REQUESTED
    outcome = store.succeed(job.id, "a", [IMAGE], {})
    assert outcome is SettleOutcome.CANCELED and not outcome
    current = store.get(job.id)
    assert current is not None and (current.status, current.images) == (JobStatus.CANCELED, [])


def test_a_settle_without_the_lease_changes_nothing(store: JobStore) -> None:
    job = create_job(store, grace=60.0)
    store.claim(job.id, "a", lease_seconds=0.05)
    time.sleep(0.1)
    store.claim(job.id, "b", lease_seconds=30)
    outcome = store.fail(job.id, "a", JobError("x", "y"))
    assert outcome is SettleOutcome.LEASE_LOST and not outcome
    assert store.succeed(job.id, "b", [IMAGE], {}) is SettleOutcome.SETTLED
