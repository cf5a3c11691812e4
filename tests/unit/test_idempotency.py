"""Idempotency-Key records against a real Redis: a short claim, the job recorded with its creation, replay,
in flight, mismatch, release, and the 24 h life of a recorded job."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core import idempotency, keys
from karlo_core.jobstore import JobStore, KeyTaken
from support.jobs import create_job
from support.stacks import Services

BODY = {"kind": "generate", "input": {"prompt": "a cat"}}


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield conn
    conn.close()


def claim(client: redis.Redis, tenant: str, body: object, lease: float = 60) -> idempotency.Outcome:
    return idempotency.claim(client, tenant, "k", body, lease_seconds=lease)


def test_the_job_is_recorded_with_its_creation_and_replayed(client: redis.Redis) -> None:
    claimed = claim(client, "t1", BODY)
    assert isinstance(claimed, idempotency.Claimed)
    assert claim(client, "t1", dict(reversed(BODY.items()))) == idempotency.InFlight()
    assert 0 < client.pttl(keys.idempotency("t1", "k")) <= 60_000  # a claim is a short lease
    job = create_job(JobStore(client), idempotency=claimed)
    assert claim(client, "t1", BODY) == idempotency.Replay(job.id)
    assert claim(client, "t1", {"kind": "other"}) == idempotency.Mismatch()
    assert 60 < client.ttl(keys.idempotency("t1", "k")) <= idempotency.KEEP_SECONDS
    idempotency.release(client, claimed)  # the job exists: it keeps answering
    assert claim(client, "t1", BODY) == idempotency.Replay(job.id)


def test_a_claim_whose_request_died_expires_with_its_lease(client: redis.Redis) -> None:
    dead = claim(client, "t1", BODY, lease=0.2)
    assert isinstance(dead, idempotency.Claimed)
    time.sleep(0.3)
    retry = claim(client, "t1", BODY)
    assert isinstance(retry, idempotency.Claimed)
    with pytest.raises(KeyTaken):  # the first request, had it only been slow, cannot make a second job
        create_job(JobStore(client), idempotency=dead)
    assert claim(client, "t1", BODY) == idempotency.InFlight()


def test_keys_are_per_tenant_and_released_claims_can_be_retried(client: redis.Redis) -> None:
    first = claim(client, "t1", {"a": 1})
    assert isinstance(first, idempotency.Claimed)
    assert isinstance(claim(client, "t2", {"a": 2}), idempotency.Claimed)
    idempotency.release(client, first)
    assert isinstance(claim(client, "t1", {"a": 3}), idempotency.Claimed)


def test_a_record_of_a_withdrawn_job_is_released(client: redis.Redis) -> None:
    claimed = claim(client, "t1", BODY)
    assert isinstance(claimed, idempotency.Claimed)
    store = JobStore(client)
    job = create_job(store, idempotency=claimed)
    store.delete(job.id)  # the queue refused it
    idempotency.release(client, claimed)
    assert isinstance(claim(client, "t1", BODY), idempotency.Claimed)
