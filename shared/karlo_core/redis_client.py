"""The Redis client every process uses for the job store."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE

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
    """The same, on asyncio: for the API's hot paths, which await Redis instead of holding a thread. Commands
    are packed by hiredis, as the sync client's are (redis-py's asyncio connections pack in Python, which was
    a visible share of an accept's CPU with its script call of some 30 arguments)."""
    client = aioredis.Redis.from_url(settings.redis_url, **_OPTIONS)
    pool = client.connection_pool
    if HIREDIS_AVAILABLE:
        pool.connection_class = _hiredis_packing(pool.connection_class)
    return client


AsyncConnection = type[aioredis.connection.AbstractConnection]
#: Each connection class with hiredis packing, made once.
_PACKING: dict[str, AsyncConnection] = {}


def _hiredis_packing(base: AsyncConnection) -> AsyncConnection:
    made = _PACKING.get(base.__qualname__)
    if made is None or made.__mro__[1] is not base:
        packer = HiredisRespSerializer()

        class HiredisPacking(base):  # type: ignore[valid-type,misc]
            def pack_command(self, *args: Any) -> list[bytes]:
                packed: list[bytes] = packer.pack(*args)
                return packed

        made = _PACKING[base.__qualname__] = HiredisPacking
    return made


def broker_is_store(settings: Settings) -> bool:
    """True when Celery's broker is the job store's Redis (and database), so a script can queue messages."""
    return settings.broker_url in (None, settings.redis_url)
