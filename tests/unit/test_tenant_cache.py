"""The API's tenant cache keeps a key's tenant and a tenant's webhook default no longer than its bound, and
never keeps what refuses a request (an unknown or revoked key, a tenant without a signing secret)."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio as aioredis

from karlo_api.tenant_cache import TenantCache
from karlo_core import keys, tenants
from support.stacks import Services

BOUND = 0.3


def _run(services: Services, check: object) -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(services.redis_url, decode_responses=True)
        try:
            await check(client)  # type: ignore[operator]
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_revoked_key_is_refused_once_the_bound_has_passed(services: Services) -> None:
    sync = redis.Redis.from_url(services.redis_url, decode_responses=True)
    tenant = tenants.create_tenant(sync, "cached")
    issued = tenants.issue_key(sync, tenant)

    async def check(client: aioredis.Redis) -> None:
        cache = TenantCache(client, ttl=BOUND)
        assert await cache.tenant(issued.secret_key) == tenant
        tenants.revoke_key(sync, issued.key_id)
        assert await cache.tenant(issued.secret_key) == tenant  # kept, within the bound
        await asyncio.sleep(BOUND)
        assert await cache.tenant(issued.secret_key) is None

    _run(services, check)


def test_without_a_bound_nothing_is_kept(services: Services) -> None:
    sync = redis.Redis.from_url(services.redis_url, decode_responses=True)
    issued = tenants.issue_key(sync, tenants.create_tenant(sync, "uncached"))

    async def check(client: aioredis.Redis) -> None:
        cache = TenantCache(client, ttl=0)
        assert await cache.tenant(issued.secret_key) is not None
        tenants.revoke_key(sync, issued.key_id)
        assert await cache.tenant(issued.secret_key) is None

    _run(services, check)


def test_a_new_key_works_at_once_and_webhook_settings_within_the_bound(services: Services) -> None:
    sync = redis.Redis.from_url(services.redis_url, decode_responses=True)
    tenant = tenants.create_tenant(sync, "fresh")

    async def check(client: aioredis.Redis) -> None:
        cache = TenantCache(client, ttl=BOUND)
        assert await cache.tenant("kq_0123456789ab_unknown") is None
        issued = tenants.issue_key(sync, tenant)
        assert await cache.tenant(issued.secret_key) == tenant  # an unknown key was not kept
        assert not (await cache.webhook_default(tenant)).has_secret
        sync.hset(keys.webhook_secrets(tenant), "primary", "sealed")
        sync.hset(keys.webhook_config(tenant), "default_url", "https://example.com/hook")
        assert not (await cache.webhook_default(tenant)).has_secret  # kept, within the bound
        await asyncio.sleep(BOUND)
        found = await cache.webhook_default(tenant)
        assert found.has_secret and found.url == "https://example.com/hook"
        sync.hdel(keys.webhook_config(tenant), "default_url")
        assert (await cache.webhook_default(tenant)).url == "https://example.com/hook"  # kept, within the bound
        cache.forget_webhooks(tenant)  # a change made through this process applies at once
        assert (await cache.webhook_default(tenant)).url is None

    _run(services, check)
