"""The look for run-job messages lost between the queue and a dying worker, against a real Redis: it reads a
bounded number of jobs and only the oldest end of a long queue, and still finds a lost message behind it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from karlo_core.broker import TRANSPORT, UNACKED_HASH, UNACKED_INDEX, jobs_with_messages_near
from karlo_core.ids import new_job_id
from karlo_core.jobstore import JobStore
from karlo_core.queue import enqueue_job
from karlo_worker.sweeper import recover_orphans
from support.jobs import create_job
from support.stacks import Services

GRACE = 60.0


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    """The servers' Redis, its queue and held messages emptied before and after (no worker consumes it)."""
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    client.delete("jobs", UNACKED_HASH, UNACKED_INDEX)
    yield client
    client.delete("jobs", UNACKED_HASH, UNACKED_INDEX)
    client.close()


@pytest.fixture
def celery(services: Services) -> Celery:
    return Celery(broker=services.redis_url, broker_transport=TRANSPORT)


def _sent_jobs(store: JobStore, celery: Celery, count: int, *, send: bool = True) -> list[str]:
    """Jobs whose message was sent (``send``: and is in the queue) and confirmed, as the sweeper does."""
    ids = []
    for _ in range(count):
        job = create_job(store, grace=GRACE)
        if send:
            enqueue_job(celery, job.id)
        store.dispatched(job.id, grace=GRACE, since=store.now())
        ids.append(job.id)
    return ids


def test_the_oldest_end_of_a_queue_is_read_and_said_to_be_partial(client: redis.Redis, celery: Celery) -> None:
    first = [new_job_id() for _ in range(3)]
    later = [new_job_id() for _ in range(3)]
    for job_id in first + later:
        enqueue_job(celery, job_id)
    near = jobs_with_messages_near(client, "jobs", oldest=3)
    assert near.ids == set(first) and not near.whole
    everything = jobs_with_messages_near(client, "jobs", oldest=6)
    assert everything.ids == set(first + later) and everything.whole


def test_a_lost_message_behind_a_long_queue_is_found_and_waiting_ones_are_not(
    client: redis.Redis, celery: Celery
) -> None:
    store = JobStore(client)
    ahead = [new_job_id() for _ in range(20)]  # other messages, to be taken first: the oldest end of the queue
    for job_id in ahead:
        enqueue_job(celery, job_id)
    _sent_jobs(store, celery, 3)
    lost = _sent_jobs(store, celery, 1, send=False)
    time.sleep(0.2)
    assert recover_orphans(store, client, older_than=0.1, grace=GRACE) == lost
    assert client.llen("jobs") == 23


def test_when_every_job_looked_at_has_its_message_near_the_end_nothing_is_rescheduled(
    client: redis.Redis, celery: Celery
) -> None:
    store = JobStore(client)
    _sent_jobs(store, celery, 5)
    for _ in range(30):  # newer messages, far from the end the look reads
        enqueue_job(celery, new_job_id())
    time.sleep(0.2)
    assert recover_orphans(store, client, older_than=0.1, grace=GRACE) == []
