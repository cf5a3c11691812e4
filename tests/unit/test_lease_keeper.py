"""One lease keeper for all of a worker's jobs, against a real Redis: every held lease is extended in time by one
thread, a cancel requested meanwhile is learned from the extension, and a lost lease is not extended again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core.jobstore import JobStore
from karlo_worker.lease import LeaseKeeper
from support.jobs import create_job
from support.stacks import Services

LEASE = 0.6


@pytest.fixture
def store(services: Services) -> Iterator[JobStore]:
    conn = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield JobStore(conn)
    conn.close()


def test_one_thread_keeps_every_lease_and_learns_of_cancels(store: JobStore) -> None:
    jobs = [create_job(store) for _ in range(5)]
    keeper = LeaseKeeper(store, lease_seconds=LEASE)
    threads_before = threading.active_count()
    with keeper.hold(jobs[0].id, "t0"), keeper.hold(jobs[1].id, "t1"):
        for index, job in enumerate(jobs[:2]):
            assert store.claim(job.id, f"t{index}", lease_seconds=LEASE).claimed
        assert threading.active_count() == threads_before + 1
        store.cancel(jobs[1].id)
        time.sleep(LEASE * 3)  # long past the first lease: only extensions keep the jobs
        for job in jobs[:2]:
            assert store.claim(job.id, "other", lease_seconds=LEASE).reason == "leased"
        assert not keeper.cancel_requested("t0")
        assert keeper.cancel_requested("t1")
        assert keeper.held() == 2
    assert keeper.held() == 0
    keeper.stop()


def test_a_lost_lease_is_not_extended_again(store: JobStore) -> None:
    job = create_job(store)
    keeper = LeaseKeeper(store, lease_seconds=LEASE)
    with keeper.hold(job.id, "mine") as lease:
        assert store.claim(job.id, "mine", lease_seconds=0.05).claimed
        time.sleep(0.1)
        assert store.claim(job.id, "theirs", lease_seconds=30).claimed
        time.sleep(LEASE)
        assert lease.lost
    keeper.stop()
