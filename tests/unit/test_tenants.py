"""Tenants and API keys: shown once, stored hashed, revocable, against a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from karlo_core import keys, tenants
from support.stacks import Services


@pytest.fixture(params=[False, True], ids=["bytes", "text"])
def client(services: Services, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(services.redis_url, decode_responses=request.param)
    yield conn
    conn.close()


def test_issued_key_authenticates_as_its_tenant_and_is_stored_only_hashed(client: redis.Redis) -> None:
    tenant_id = tenants.create_tenant(client, "acme")
    issued = tenants.issue_key(client, tenant_id)
    assert tenants.authenticate(client, issued.secret_key) == tenant_id
    stored = client.hgetall(keys.api_key(issued.key_id))
    assert issued.secret_key.split("_", 2)[2] not in repr(stored)


def test_wrong_malformed_and_revoked_keys_are_refused(client: redis.Redis) -> None:
    issued = tenants.issue_key(client, tenants.create_tenant(client, "acme"))
    assert tenants.authenticate(client, issued.secret_key + "x") is None
    assert tenants.authenticate(client, "nonsense") is None
    assert tenants.authenticate(client, "kq_unknown_secret") is None
    assert tenants.revoke_key(client, issued.key_id)
    assert tenants.authenticate(client, issued.secret_key) is None
    assert not tenants.revoke_key(client, "unknown")


def test_keys_are_only_issued_to_existing_tenants(client: redis.Redis) -> None:
    with pytest.raises(KeyError):
        tenants.issue_key(client, "t_missing")
