"""What a 202 promises: how durable an accepted job is before the API answers.

``memory`` (the default): the job is in Redis's memory and, with ``appendfsync everysec``, in the AOF within
about a second; a machine crash (not a Redis crash: the kernel still holds the write) can lose up to that
second of accepted jobs. ``aof``: before answering, wait until Redis has fsynced its AOF past the job
(``WAITAOF``, Redis 7.2+). ``replica``: wait until ``replicas`` replicas have it (``WAIT``).

The wait covers the job by order, not by connection: a marker is written on the waiting connection after
the job record and its queue message, and the AOF and the replication stream are ordered, so once the
marker is fsynced (or replicated) so is everything before it. The queue message is covered when the broker
is the same Redis; with another broker the record alone is, and a job whose message is lost is re-sent.
"""

from __future__ import annotations

import logging
from typing import Literal

import redis

from karlo_core import keys

log = logging.getLogger(__name__)

Durability = Literal["memory", "aof", "replica"]
WAITAOF_SINCE = (7, 2)


class DurabilityUnsupported(RuntimeError):
    """The Redis in use cannot give the durability asked for; the message says why and what to do."""


class DurabilityWaiter:
    def __init__(self, client: redis.Redis, *, mode: Durability, replicas: int, timeout_ms: int) -> None:
        self._redis = client
        self._mode = mode
        self._replicas = replicas
        self._timeout_ms = timeout_ms

    @property
    def mode(self) -> Durability:
        return self._mode

    def check_supported(self) -> None:
        """DurabilityUnsupported when this Redis cannot honour the mode (checked once, at start)."""
        if self._mode == "aof":
            server = self._redis.info("server")
            version = str(server.get("redis_version", "0"))
            if redis_version(version) < WAITAOF_SINCE:
                raise DurabilityUnsupported(
                    f"KARLOQ_ACCEPT_DURABILITY=aof waits with WAITAOF, which needs Redis 7.2 or later; this Redis is "
                    f"{version}. Upgrade Redis, use KARLOQ_ACCEPT_DURABILITY=replica (WAIT, any version) with a "
                    "replica, or run Redis with appendfsync always"
                )
            if not int(self._redis.info("persistence").get("aof_enabled", 0)):
                raise DurabilityUnsupported("KARLOQ_ACCEPT_DURABILITY=aof needs Redis running with appendonly yes")
        elif self._mode == "replica":
            connected = int(self._redis.info("replication").get("connected_slaves", 0))
            if connected < self._replicas:
                log.warning(
                    "fewer replicas connected than accepted jobs wait for",
                    extra={"connected": connected, "wanted": self._replicas},
                )

    def wait(self) -> bool:
        """Block until everything written so far is as durable as the mode says; False when that was not
        confirmed within the timeout (the job stays accepted: Redis does not roll a write back)."""
        if self._mode == "memory":
            return True
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(keys.durability_marker())
                if self._mode == "aof":
                    pipe.waitaof(1, 0, self._timeout_ms)
                else:
                    pipe.wait(self._replicas, self._timeout_ms)
                _, answer = pipe.execute()
        except redis.RedisError as exc:  # the job is recorded and queued: it stays accepted
            log.warning("durability of an accepted job unknown", extra={"mode": self._mode, "error": str(exc)})
            return False
        confirmed = int(answer[0]) >= 1 if self._mode == "aof" else int(answer) >= self._replicas
        if not confirmed:
            log.warning("accepted job not confirmed durable in time", extra={"mode": self._mode, "answer": answer})
        return confirmed


def redis_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())
