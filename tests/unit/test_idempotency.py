"""Idempotency-Key records against a real Redis: claim, replay, in flight, mismatch, release, 24 h TTL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from karlo_core import idempotency, keys
from support.stacks import Services


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield conn
    conn.close()


def test_claim_in_flight_replay_and_mismatch(client: redis.Redis) -> None:
    body = {"kind": "generate", "input": {"prompt": "a cat"}}
    assert idempotency.claim(client, "t1", "k", body) == idempotency.Claimed()
    assert idempotency.claim(client, "t1", "k", dict(reversed(body.items()))) == idempotency.InFlight()
    idempotency.complete(client, "t1", "k", body, 202, {"id": "j1"})
    assert idempotency.claim(client, "t1", "k", body) == idempotency.Replay(202, {"id": "j1"})
    assert idempotency.claim(client, "t1", "k", {"kind": "other"}) == idempotency.Mismatch()
    assert 0 < client.ttl(keys.idempotency("t1", "k")) <= idempotency.KEEP_SECONDS


def test_keys_are_per_tenant_and_released_claims_can_be_retried(client: redis.Redis) -> None:
    assert idempotency.claim(client, "t1", "k", {"a": 1}) == idempotency.Claimed()
    assert idempotency.claim(client, "t2", "k", {"a": 2}) == idempotency.Claimed()
    idempotency.release(client, "t1", "k")
    assert idempotency.claim(client, "t1", "k", {"a": 3}) == idempotency.Claimed()
