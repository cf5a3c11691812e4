"""Tenant signing secrets: creation, rotation with a grace period, and what a tenant may see."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core import keys
from karlo_core.webhooks.sealing import SEALED_PREFIX, SecretSealer
from karlo_core.webhooks.secrets import SecretStore
from karlo_core.webhooks.signing import new_secret
from support.stacks import Services

SEALER = SecretSealer("a-test-key")


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield client
    client.close()


def test_rotation_signs_with_both_during_grace_then_only_the_new(client: redis.Redis) -> None:
    store = SecretStore(client, grace_seconds=3600, sealer=SEALER)
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
    store = SecretStore(client, grace_seconds=0, sealer=SEALER)
    store.rotate("t2")
    new = store.rotate("t2")
    assert store.signing_secrets("t2", now=time.time()) == [new.secret]


def test_secrets_are_sealed_at_rest_and_bound_to_their_tenant(client: redis.Redis) -> None:
    store = SecretStore(client, grace_seconds=3600, sealer=SEALER)
    rotated = store.rotate("t3")
    stored = client.hgetall(keys.webhook_secrets("t3"))
    assert stored["primary"].startswith(SEALED_PREFIX)
    assert rotated.secret not in str(stored) and rotated.secret.removeprefix("whsec_") not in str(stored)
    # Moved into another tenant's record, it does not open; under another key, nothing opens.
    client.hset(keys.webhook_secrets("t4"), mapping={"primary": stored["primary"], "created_at": "1"})
    assert store.signing_secrets("t4") == []
    assert SecretStore(client, grace_seconds=3600, sealer=SecretSealer("another-key")).signing_secrets("t3") == []
    assert store.signing_secrets("t3") == [rotated.secret]


def test_clear_secrets_from_before_sealing_still_sign_and_are_sealed_in_place(client: redis.Redis) -> None:
    old, older = new_secret(), new_secret()
    until = str(time.time() + 3600)
    client.hset(
        keys.webhook_secrets("t5"),
        mapping={"primary": old, "previous": older, "previous_until": until, "created_at": "1"},
    )
    client.hset(keys.webhook_secrets("t6"), mapping={"primary": new_secret(), "created_at": "1"})
    store = SecretStore(client, grace_seconds=3600, sealer=SEALER)
    assert store.signing_secrets("t5") == [old, older]
    stored = client.hgetall(keys.webhook_secrets("t5"))
    assert stored["primary"].startswith(SEALED_PREFIX) and stored["previous"].startswith(SEALED_PREFIX)
    assert store.signing_secrets("t5") == [old, older]
    assert store.seal_all(["t5", "t6"]) == 1
    assert client.hget(keys.webhook_secrets("t6"), "primary").startswith(SEALED_PREFIX)
