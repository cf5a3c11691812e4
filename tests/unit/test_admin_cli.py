"""The tenant admin CLI, end to end against a real Redis."""

from __future__ import annotations

import pytest
import redis

from karlo_api.admin import run
from karlo_core import tenants
from support.stacks import Services


def test_create_issue_list_and_revoke(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    try:
        assert run(client, ["create-tenant", "acme"]) == 0
        tenant_id = capsys.readouterr().out.strip()
        assert run(client, ["issue-key", tenant_id]) == 0
        out = capsys.readouterr().out
        key_id, secret = out.split()[2].rstrip(";"), out.split()[-1]
        assert tenants.authenticate(client, secret) == tenant_id
        assert run(client, ["list"]) == 0
        assert key_id in capsys.readouterr().out
        assert run(client, ["revoke-key", key_id]) == 0
        assert tenants.authenticate(client, secret) is None
        assert run(client, ["issue-key", "t_missing"]) == 1
    finally:
        client.close()
