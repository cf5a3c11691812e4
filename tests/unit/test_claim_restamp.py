"""A claim restamps the quota reservation the scheduler made for the claiming attempt, in the same step: the
minute log then counts the call from the claim, and a reservation whose entries left the window is reported
so the worker gives it back and queues the job again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from karlo_core import keys
from karlo_core.jobstore import JobStore, Restamp
from karlo_core.quota.buckets import QuotaBuckets
from karlo_core.quota.policy import make_buckets, upstream_scope
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from support.jobs import new_job
from support.stacks import Services

START = 1_795_000_000.0
WINDOW = 60.0


@dataclass
class Parts:
    client: redis.Redis
    store: JobStore
    quota: QuotaBuckets
    scheduler: Scheduler
    settings: Settings

    def logged_at(self, reservation: str) -> float | None:
        """When the reservation's one-image entry stands in the upstream minute log."""
        minute = keys.quota_minute(upstream_scope(self.settings).name)
        score = self.client.zscore(minute, f"{reservation}:1")
        return None if score is None else float(score)


@pytest.fixture
def parts(services: Services) -> Iterator[Parts]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    client.flushdb()
    settings = Settings(
        redis_url=services.redis_url,
        quota_test_clock=True,
        quota_minute_window_seconds=WINDOW,
        quota_window_guard_seconds=0,
    )
    quota = make_buckets(settings, client)
    quota.set_test_clock(START)
    yield Parts(client, JobStore(client), quota, Scheduler(client, settings, quota), settings)
    client.close()


def _queued(store: JobStore, *, scheduled: bool = True) -> str:
    """A new job in its tenant's scheduler queue, or (not ``scheduled``) due for dispatch as before there was one."""
    job = new_job()
    assert store.create(job, dispatch_grace=60, schedule_offset=0.0 if scheduled else None)
    return job.id


def test_the_claim_moves_its_attempts_reservation_to_the_claim(
    parts: Parts,
) -> None:
    store, quota, scheduler = parts.store, parts.quota, parts.scheduler
    job_id = _queued(store)
    assert [h.job_id for h in scheduler.dispatch("karlo").handed] == [job_id]
    assert parts.logged_at(f"{job_id}:d1") == START
    quota.set_test_clock(START + 5)
    claim = store.claim(job_id, "t", lease_seconds=30, restamp=Restamp(WINDOW, quota.override))
    assert claim.claimed and claim.restamped is True
    assert parts.logged_at(f"{job_id}:d1") == START + 5


def test_a_reservation_out_of_its_window_is_reported_and_left_where_it_was(
    parts: Parts,
) -> None:
    store, quota, scheduler = parts.store, parts.quota, parts.scheduler
    job_id = _queued(store)
    scheduler.dispatch("karlo")
    quota.set_test_clock(START + WINDOW + 1)
    claim = store.claim(job_id, "t", lease_seconds=30, restamp=Restamp(WINDOW, quota.override))
    assert claim.claimed and claim.restamped is False


def test_a_claim_without_a_reservation_for_its_attempt_restamps_nothing(
    parts: Parts,
) -> None:
    store, quota = parts.store, parts.quota
    job_id = _queued(store, scheduled=False)
    claim = store.claim(job_id, "t", lease_seconds=30, restamp=Restamp(WINDOW, quota.override))
    assert claim.claimed and claim.restamped is None
    assert store.claim(job_id, "u", lease_seconds=30).reason == "leased"
