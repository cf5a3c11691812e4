"""Worker heartbeats in Redis: each worker process stamps its id in one sorted set; fresh stamps are live.

A worker also stamps its id for each generation backend it has ready (loaded, credentials set), so the API can
tell which backends have a live worker.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from karlo_core import keys


class Heartbeats:
    def __init__(self, client: redis.Redis, *, max_age_seconds: float) -> None:
        self._redis = client
        self._max_age = max_age_seconds

    def beat(self, worker_id: str, backends: Sequence[str] = ()) -> None:
        """Stamp ``worker_id`` (and it for each of its ready ``backends``) with Redis's clock, and drop workers
        silent for ten times the allowed age."""
        now = self._now()
        with self._redis.pipeline() as pipe:
            for key in (keys.worker_heartbeats(), *(keys.backend_workers(name) for name in backends)):
                pipe.zadd(key, {worker_id: now})
                pipe.zremrangebyscore(key, "-inf", now - 10 * self._max_age)
            pipe.execute()

    def forget(self, worker_id: str, backends: Sequence[str] = ()) -> None:
        """A worker shutting down cleanly stops counting at once."""
        with self._redis.pipeline() as pipe:
            for key in (keys.worker_heartbeats(), *(keys.backend_workers(name) for name in backends)):
                pipe.zrem(key, worker_id)
            pipe.execute()

    def backend_ready(self, backend: str) -> bool:
        """Whether some live worker has ``backend`` ready."""
        return bool(self._redis.zcount(keys.backend_workers(backend), self._now() - self._max_age, "+inf"))

    def live(self) -> int:
        return int(self._redis.zcount(keys.worker_heartbeats(), self._now() - self._max_age, "+inf"))

    def _now(self) -> float:
        seconds, micros = self._redis.time()
        return float(seconds) + float(micros) / 1e6
