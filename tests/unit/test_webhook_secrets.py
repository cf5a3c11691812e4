"""Tenant signing secrets: creation, rotation with a grace period, and what a tenant may see."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core.webhooks.secrets import SecretStore
from support.stacks import Services


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield client
    client.close()


def test_rotation_signs_with_both_during_grace_then_only_the_new(client: redis.Redis) -> None:
    store = SecretStore(client, grace_seconds=3600)
    assert store.signing_secrets("t1") == [] and not store.info("t1").exists
    first = store.rotate("t1")
    assert first.previous_valid_until is None
    assert store.signing_secrets("t1") == [first.secret]
    second = store.rotate("t1")
    assert store.signing_secrets("t1") == [second.secret, first.secret]
    assert second.previous_valid_until is not None
    assert store.signing_secrets("t1", now=second.previous_valid_until + 1) == [second.secret]
    info = store.info("t1")
    assert info.exists and info.previous_valid_until == pytest.approx(second.previous_valid_until)
    assert "whsec_" not in repr(info)


def test_without_grace_the_old_secret_stops_at_once(client: redis.Redis) -> None:
    store = SecretStore(client, grace_seconds=0)
    store.rotate("t2")
    new = store.rotate("t2")
    assert store.signing_secrets("t2", now=time.time()) == [new.secret]
