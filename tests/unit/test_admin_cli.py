"""The tenant admin CLI, end to end against a real Redis."""

from __future__ import annotations

import json

import pytest
import redis

from karlo_api.admin import run
from karlo_core import keys, tenants
from karlo_core.errors import BlockedDestination
from karlo_core.settings import Settings
from karlo_core.webhooks.endpoints import WebhookEndpoints
from karlo_core.webhooks.factory import secret_store, webhook_guards
from karlo_core.webhooks.sealing import SEALED_PREFIX
from karlo_core.webhooks.signing import new_secret
from support.stacks import Services


def test_create_issue_list_and_revoke(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    try:
        assert run(client, ["create-tenant", "acme", "--allow-empty-redis"]) == 0
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
        assert WebhookEndpoints(client).default_url(tenant_id) == "https://1.1.1.1/hook"
        assert run(client, ["set-webhook-url", tenant_id, ""], settings) == 0
        assert WebhookEndpoints(client).default_url(tenant_id) is None
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


def test_webhook_networks_are_set_per_tenant(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    settings = Settings(redis_url=services.redis_url, webhook_allow_networks="192.168.0.0/16")
    guards = webhook_guards(settings, client)
    try:
        tenant_id, other = tenants.create_tenant(client, "vpc"), tenants.create_tenant(client, "plain")
        assert run(client, ["rotate-webhook-secret", tenant_id], settings) == 0
        assert run(client, ["set-webhook-networks", tenant_id, "10.0.0.0/8", "fd00::/8"], settings) == 0
        assert "10.0.0.0/8, fd00::/8" in capsys.readouterr().out
        assert run(client, ["set-webhook-url", tenant_id, "https://10.1.2.3/hook"], settings) == 0
        guards.for_tenant(tenant_id).check_url("https://[fd00::1]/hook")
        with pytest.raises(BlockedDestination):  # its own networks replace the global ones
            guards.for_tenant(tenant_id).check_url("https://192.168.1.1/hook")
        with pytest.raises(BlockedDestination):
            guards.for_tenant(other).check_url("https://10.1.2.3/hook")
        guards.for_tenant(other).check_url("https://192.168.1.1/hook")
        assert run(client, ["set-webhook-networks", tenant_id], settings) == 0
        with pytest.raises(BlockedDestination):
            guards.for_tenant(tenant_id).check_url("https://10.1.2.3/hook")
        assert run(client, ["set-webhook-networks", tenant_id, "--default"], settings) == 0
        guards.for_tenant(tenant_id).check_url("https://192.168.1.1/hook")
        assert run(client, ["set-webhook-networks", tenant_id, "10.0.0.300/8"], settings) == 1
        assert run(client, ["set-webhook-networks", "t_missing", "10.0.0.0/8"], settings) == 1
    finally:
        client.close()


def test_set_plan_changes_fields_at_once_and_show_plan_prints_them(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    settings = Settings(redis_url=services.redis_url)
    try:
        assert (
            run(client, ["set-plan", "t_a", "--weight", "2", "--per-day", "5", "--max-priority", "normal"], settings)
            == 0
        )
        shown = json.loads(capsys.readouterr().out)
        assert (shown["weight"], shown["per_day"], shown["max_priority"], shown["custom"]) == (2.0, 5, "normal", True)
        assert run(client, ["set-plan", "t_a", "--max-priority", "urgent"], settings) == 2
        assert run(client, ["set-plan", "t_a", "--per-day", ""], settings) == 0
        capsys.readouterr()
        assert run(client, ["show-plan", "t_a"], settings) == 0
        assert json.loads(capsys.readouterr().out)["per_day"] == settings.tenant_quota_per_day
    finally:
        client.close()
