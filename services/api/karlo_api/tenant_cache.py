"""What an API process keeps of tenants between requests: an API key's tenant and a tenant's webhook default,
each for at most ``KARLOQ_AUTH_CACHE_SECONDS`` (2 s by default), so accepting a job needs no Redis read for
them.

The bound is the promise: a revoked key is refused, and a default URL set or a signing secret created
through another API process applies, within that many seconds of the change. A change made through this
process applies at once (its routes call :meth:`TenantCache.forget_webhooks`). An unknown or revoked key is
never kept, so a key issued a moment ago works at once. The cache holds at most ``max_entries`` of each kind;
past that the oldest go first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import redis.asyncio as aioredis

from karlo_core.tenants import authenticate_async
from karlo_core.webhooks.endpoints import WebhookDefault, read_webhook_default

V = TypeVar("V")

MAX_ENTRIES = 10_000


class _Expiring(Generic[V]):
    """A dict whose entries live ``ttl`` seconds (monotonic clock), oldest dropped past ``max_entries``."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, V]] = {}
        self._loading: dict[str, asyncio.Future[V]] = {}

    def get(self, key: str) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: str, value: V) -> None:
        if self._ttl <= 0:
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (time.monotonic() + self._ttl, value)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    async def read(self, key: str, load: Callable[[], Awaitable[V]], keep: Callable[[V], bool]) -> V:
        """The kept value, or ``load()``'s, kept when ``keep`` says so. Requests that miss the same key at
        once share one load."""
        value = self.get(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._loading[key] = pending
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        value = await asyncio.shield(pending)
        if keep(value):
            self.put(key, value)
        return value


class TenantCache:
    def __init__(self, client: aioredis.Redis, *, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self._redis = client
        self._tenants: _Expiring[str | None] = _Expiring(ttl, max_entries)
        self._webhooks: _Expiring[WebhookDefault] = _Expiring(ttl, max_entries)

    async def tenant(self, api_key: str) -> str | None:
        """The tenant owning ``api_key``; None when it is malformed, unknown or revoked."""
        return await self._tenants.read(
            api_key, lambda: authenticate_async(self._redis, api_key), lambda tenant: tenant is not None
        )

    async def webhook_default(self, tenant: str) -> WebhookDefault:
        """The tenant's default webhook URL and whether it has a signing secret."""
        return await self._webhooks.read(tenant, lambda: read_webhook_default(self._redis, tenant), lambda _: True)

    def forget_webhooks(self, tenant: str) -> None:
        """The tenant's webhook settings changed here: read them afresh next time."""
        self._webhooks.forget(tenant)
