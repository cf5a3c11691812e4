"""The worker's liveness heartbeat, driven by Celery's consumer loop.

Every ``worker_heartbeat_seconds`` the consumer's own timer touches a file (what a Kubernetes liveness probe
checks, through :mod:`karlo_worker.probe`, without calling the broker) and stamps the worker in Redis (what
the live-workers gauge counts). Because the consumer loop fires the timer, a hung loop stops both.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import redis
from celery import bootsteps

from karlo_core.heartbeats import Heartbeats

log = logging.getLogger(__name__)


class WorkerHeartbeat:
    def __init__(self, *, path: Path, heartbeats: Heartbeats, worker_id: str) -> None:
        self.path = path
        self._heartbeats = heartbeats
        self.worker_id = worker_id

    def beat(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{time.time():.3f}\n")
        try:
            self._heartbeats.beat(self.worker_id)
        except redis.RedisError as exc:  # the file still says the process is alive; Redis is not ours to fix
            log.warning("heartbeat not stamped in Redis", extra={"error": type(exc).__name__})

    def stop(self) -> None:
        try:
            self._heartbeats.forget(self.worker_id)
        except redis.RedisError:
            log.warning("heartbeat not withdrawn from Redis", exc_info=True)
        self.path.unlink(missing_ok=True)


def heartbeat_step(heartbeat: WorkerHeartbeat, *, interval: float) -> type[bootsteps.StartStopStep]:
    """A consumer bootstep that beats on the consumer's timer while the consumer runs."""

    class HeartbeatStep(bootsteps.StartStopStep):
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self._timer: Any = None

        def start(self, parent: Any) -> None:
            heartbeat.beat()
            self._timer = parent.timer.call_repeatedly(interval, heartbeat.beat)
            log.info("heartbeat started", extra={"path": str(heartbeat.path), "interval_seconds": interval})

        def stop(self, parent: Any) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def shutdown(self, parent: Any) -> None:
            self.stop(parent)
            heartbeat.stop()

    return HeartbeatStep
