"""A tenant's webhook endpoints: the default URL for jobs that name none, and the receivers no longer sent to.

A receiver that answers 410 Gone is disabled for its tenant (``lua/webhook_attempt.lua`` records it, with when
and why); its pending deliveries end ``disabled`` until the tenant enables it again or sets it as the default.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from karlo_core import keys


class WebhookEndpoints:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def default_url(self, tenant: str) -> str | None:
        value = self._redis.hget(keys.webhook_config(tenant), "default_url")
        return str(value) if value else None

    def set_default_url(self, tenant: str, url: str | None) -> None:
        """Set (or clear) the URL used by jobs that name none; setting a URL also re-enables it."""
        if url is None:
            self._redis.hdel(keys.webhook_config(tenant), "default_url")
            return
        with self._redis.pipeline() as pipe:
            pipe.hset(keys.webhook_config(tenant), "default_url", url)
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
