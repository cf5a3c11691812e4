"""The worker's liveness heartbeat, driven by Celery's consumer loop.

Every ``worker_heartbeat_seconds`` the consumer's own timer ticks: it touches a file (what a Kubernetes
liveness probe checks, through :mod:`karlo_worker.probe`, without calling the broker) and stamps the worker in
Redis (what the live-workers gauge counts). A hung consumer loop stops ticking, so the file ages and the probe
fails. While the consumer is down because the broker is unreachable, a keeper thread goes on touching the
file: restarting the pod cannot bring the broker back, and Celery reconnects by itself.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import redis
from celery import bootsteps

from karlo_core.atomic_files import write_atomically
from karlo_core.heartbeats import Heartbeats
from karlo_worker.periodic import Periodic

log = logging.getLogger(__name__)


class WorkerHeartbeat:
    def __init__(self, *, path: Path, heartbeats: Heartbeats, worker_id: str, max_age_seconds: float) -> None:
        self.path = path
        self._heartbeats = heartbeats
        self.worker_id = worker_id
        self._max_age = max_age_seconds
        self._consumer_up = False
        self._last_tick = time.monotonic()

    def tick(self) -> None:
        """Called by the consumer loop's timer: the loop makes progress."""
        self._last_tick = time.monotonic()
        self._touch()
        try:
            self._heartbeats.beat(self.worker_id)
        except redis.RedisError as exc:  # the file still says the process is alive; Redis is not ours to fix
            log.warning("heartbeat not stamped in Redis", extra={"error": type(exc).__name__})

    def consumer_started(self) -> None:
        self._consumer_up = True
        self.tick()

    def consumer_stopped(self) -> None:
        """The consumer stopped: for a broker reconnection (the keeper covers it) or for shutdown."""
        self._consumer_up = False

    def keep_alive(self) -> None:
        """Called by the keeper thread: touch the file while the loop ticks, or while it waits for the broker."""
        if not self._consumer_up or time.monotonic() - self._last_tick < self._max_age / 2:
            self._touch()

    def withdraw(self) -> None:
        try:
            self._heartbeats.forget(self.worker_id)
        except redis.RedisError:
            log.warning("heartbeat not withdrawn from Redis", exc_info=True)
        self.path.unlink(missing_ok=True)

    def _touch(self) -> None:
        """Whole or not at all: the loop's timer and the keeper thread both touch it while the probe reads it."""
        write_atomically(self.path, f"{time.time():.3f}\n".encode())


def heartbeat_step(heartbeat: WorkerHeartbeat, *, interval: float) -> type[bootsteps.StartStopStep]:
    """A consumer bootstep that ticks on the consumer's timer while the consumer runs."""
    keeper = Periodic("karloq-heartbeat", heartbeat.keep_alive, interval=interval)

    class HeartbeatStep(bootsteps.StartStopStep):
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self._timer: Any = None

        def start(self, parent: Any) -> None:
            if not keeper.is_alive():
                keeper.start()
            heartbeat.consumer_started()
            self._timer = parent.timer.call_repeatedly(interval, heartbeat.tick)
            log.info("heartbeat started", extra={"path": str(heartbeat.path), "interval_seconds": interval})

        def stop(self, parent: Any) -> None:
            heartbeat.consumer_stopped()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def shutdown(self, parent: Any) -> None:
            self.stop(parent)
            keeper.stop()
            heartbeat.withdraw()

    return HeartbeatStep
