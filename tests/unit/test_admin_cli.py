"""The tenant admin CLI, end to end against a real Redis."""

from __future__ import annotations

import pytest
import redis

from karlo_api.admin import run
from karlo_core import keys, tenants
from karlo_core.settings import Settings
from karlo_core.webhooks.factory import secret_store
from karlo_core.webhooks.outbox import Outbox
from karlo_core.webhooks.sealing import SEALED_PREFIX
from karlo_core.webhooks.signing import new_secret
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


def test_webhook_secret_and_default_url(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    settings = Settings(redis_url=services.redis_url)
    try:
        tenant_id = tenants.create_tenant(client, "hooks")
        assert run(client, ["set-webhook-url", tenant_id, "https://1.1.1.1/hook"], settings) == 1
        assert "rotate-webhook-secret first" in capsys.readouterr().err
        assert run(client, ["rotate-webhook-secret", tenant_id], settings) == 0
        secret = capsys.readouterr().out.split()[-1]
        assert secret_store(settings, client).signing_secrets(tenant_id) == [secret]
        for private in ("https://10.0.0.1/hook", "https://localhost/hook", "http://example.com/hook"):
            assert run(client, ["set-webhook-url", tenant_id, private], settings) == 1
        assert run(client, ["set-webhook-url", tenant_id, "https://1.1.1.1/hook"], settings) == 0
        assert Outbox(client).default_url(tenant_id) == "https://1.1.1.1/hook"
        assert run(client, ["set-webhook-url", tenant_id, ""], settings) == 0
        assert Outbox(client).default_url(tenant_id) is None
        assert run(client, ["rotate-webhook-secret", "t_missing"], settings) == 1
    finally:
        client.close()


def test_seal_webhook_secrets_seals_what_older_versions_kept_in_clear(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    settings = Settings(redis_url=services.redis_url)
    try:
        tenant_id = tenants.create_tenant(client, "clear")
        clear = new_secret()
        client.hset(keys.webhook_secrets(tenant_id), mapping={"primary": clear, "created_at": "1"})
        assert run(client, ["seal-webhook-secrets"], settings) == 0
        assert "sealed 1 webhook secrets" in capsys.readouterr().out
        assert client.hget(keys.webhook_secrets(tenant_id), "primary").startswith(SEALED_PREFIX)
        assert secret_store(settings, client).signing_secrets(tenant_id) == [clear]
    finally:
        client.close()
