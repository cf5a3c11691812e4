"""Scrape-time state against a real Redis: active jobs by status, counted in slices, and the quota windows."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core import state_metrics
from karlo_core.exposition import make_state_collector
from karlo_core.jobstore import JobStore
from karlo_core.settings import Settings
from support.jobs import new_job
from support.stacks import Services

JOBS = state_metrics.CHUNK + 500  # more than one slice


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    url = services.redis_url.rsplit("/", 1)[0] + "/0"
    connection = redis.Redis.from_url(url, decode_responses=True)
    yield connection
    connection.close()


def values(collector: state_metrics.RedisStateCollector) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def test_active_jobs_are_counted_by_status_across_slices(client: redis.Redis, services: Services) -> None:
    store = JobStore(client)
    ids = []
    for _ in range(JOBS):
        job = new_job()
        assert store.create(job, dispatch_grace=900)
        ids.append(job.id)
    for job_id in ids[:5]:
        assert store.claim(job_id, "t", lease_seconds=30).claimed
    for job_id in ids[:2]:
        assert store.wait_for_quota(job_id, "t", eta=time.time() + 60, delay=60)

    settings = Settings(redis_url=services.redis_url.rsplit("/", 1)[0] + "/0", quota_per_minute=7)
    seen = values(make_state_collector(settings, client))
    assert seen[("karlo_queue_jobs_active", ("queued",))] == JOBS - 5
    assert seen[("karlo_queue_jobs_active", ("running",))] == 3
    assert seen[("karlo_queue_jobs_active", ("waiting_for_quota",))] == 2
    assert seen[("karlo_queue_quota_limit_images", ("minute",))] == 7
    assert seen[("karlo_queue_quota_remaining_images", ("minute",))] == 7
    assert seen[("karlo_queue_workers_live", ())] == 0
    assert seen[("karlo_queue_state_up", ())] == 1


def test_an_unreachable_redis_is_reported_not_raised() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0")
    unreachable = redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_connect_timeout=0.5)
    seen = values(make_state_collector(settings, unreachable))
    assert seen == {("karlo_queue_state_up", ()): 0}
