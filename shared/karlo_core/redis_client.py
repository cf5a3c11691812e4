"""The Redis client every process uses for the job store."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from karlo_core.settings import Settings

#: How every client of the job store connects, sync or asyncio.
_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
    "retry_on_timeout": True,
}


def make_redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, **_OPTIONS)


def make_async_redis(settings: Settings) -> aioredis.Redis:
    """The same, on asyncio: for the API's hot paths, which await Redis instead of holding a thread."""
    return aioredis.Redis.from_url(settings.redis_url, **_OPTIONS)


def broker_is_store(settings: Settings) -> bool:
    """True when Celery's broker is the job store's Redis (and database), so a script can queue messages."""
    return settings.broker_url in (None, settings.redis_url)
