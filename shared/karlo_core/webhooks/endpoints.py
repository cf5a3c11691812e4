"""A tenant's webhook endpoints: the default URL for jobs that name none, and the receivers no longer sent to.

A receiver that answers 410 Gone is disabled for its tenant (``lua/webhook_attempt.lua`` records it, with when
and why); its pending deliveries end ``disabled`` until the tenant enables it again or sets it as the default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from karlo_core import keys

#: The field of a tenant's webhook config holding its default URL.
DEFAULT_URL_FIELD = "default_url"


@dataclass(frozen=True)
class WebhookDefault:
    """What a new job of a tenant needs to know of its webhooks: the default URL, and whether it can sign."""

    url: str | None
    has_secret: bool


async def read_webhook_default(client: aioredis.Redis, tenant: str) -> WebhookDefault:
    """The tenant's :class:`WebhookDefault`, in one round trip on an asyncio client."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hget(keys.webhook_config(tenant), DEFAULT_URL_FIELD)
        pipe.hexists(keys.webhook_secrets(tenant), "primary")
        url, has_secret = await pipe.execute()
    return WebhookDefault(str(url) if url else None, bool(has_secret))


class WebhookEndpoints:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def default_url(self, tenant: str) -> str | None:
        value = self._redis.hget(keys.webhook_config(tenant), DEFAULT_URL_FIELD)
        return str(value) if value else None

    def set_default_url(self, tenant: str, url: str | None) -> None:
        """Set (or clear) the URL used by jobs that name none; setting a URL also re-enables it."""
        if url is None:
            self._redis.hdel(keys.webhook_config(tenant), DEFAULT_URL_FIELD)
            return
        with self._redis.pipeline() as pipe:
            pipe.hset(keys.webhook_config(tenant), DEFAULT_URL_FIELD, url)
            pipe.hdel(keys.webhook_disabled(tenant), url)
            pipe.execute()

    def is_disabled(self, tenant: str, url: str) -> bool:
        return bool(self._redis.hexists(keys.webhook_disabled(tenant), url))

    def disabled_endpoints(self, tenant: str) -> dict[str, dict[str, Any]]:
        raw = self._redis.hgetall(keys.webhook_disabled(tenant))
        return {str(url): json.loads(str(info)) for url, info in raw.items()}

    def enable(self, tenant: str, url: str) -> bool:
        """Send to ``url`` again; False when it was not disabled."""
        return bool(self._redis.hdel(keys.webhook_disabled(tenant), url))
