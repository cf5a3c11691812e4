"""Worker heartbeats in Redis: each worker process stamps its id in one sorted set; fresh stamps are live."""

from __future__ import annotations

import redis

from karlo_core import keys


class Heartbeats:
    def __init__(self, client: redis.Redis, *, max_age_seconds: float) -> None:
        self._redis = client
        self._max_age = max_age_seconds

    def beat(self, worker_id: str) -> None:
        """Stamp ``worker_id`` with Redis's clock, and drop workers silent for ten times the allowed age."""
        now = self._now()
        with self._redis.pipeline() as pipe:
            pipe.zadd(keys.worker_heartbeats(), {worker_id: now})
            pipe.zremrangebyscore(keys.worker_heartbeats(), "-inf", now - 10 * self._max_age)
            pipe.execute()

    def forget(self, worker_id: str) -> None:
        """A worker shutting down cleanly stops counting at once."""
        self._redis.zrem(keys.worker_heartbeats(), worker_id)

    def live(self) -> int:
        return int(self._redis.zcount(keys.worker_heartbeats(), self._now() - self._max_age, "+inf"))

    def _now(self) -> float:
        seconds, micros = self._redis.time()
        return float(seconds) + float(micros) / 1e6
