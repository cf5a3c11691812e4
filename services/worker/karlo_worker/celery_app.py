"""The worker's Celery app: shared reliability settings, the tasks, and the sweeper's life cycle."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

from celery import Celery, signals

from karlo_core.exposition import make_heartbeats
from karlo_core.queue import RUN_JOB_TASK, Queue, make_celery
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_worker import pipeline
from karlo_worker.heartbeat import WorkerHeartbeat, heartbeat_step
from karlo_worker.runtime import WorkerRuntime, make_runtime
from karlo_worker.sweeper import Sweeper


class _RuntimeHolder:
    """Builds the runtime on first use, once per process, whatever thread asks first."""

    def __init__(self, settings: Settings, celery: Celery) -> None:
        self._settings = settings
        self._celery = celery
        self._lock = threading.Lock()
        self._runtime: WorkerRuntime | None = None

    def get(self) -> WorkerRuntime:
        with self._lock:
            if self._runtime is None:
                self._runtime = make_runtime(self._settings, self._celery)
            return self._runtime


def make_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings, "karlo_worker")
    runtime = _RuntimeHolder(settings, app)

    @app.task(name=RUN_JOB_TASK, queue=Queue.JOBS.value, ignore_result=True)
    def run_job(*, job_id: str) -> None:
        pipeline.run_job(job_id, runtime.get())

    sweepers: list[Sweeper] = []

    def start_sweeper(**_: Any) -> None:
        rt = runtime.get()
        sweeper = Sweeper(
            rt.store, app, interval=settings.sweep_interval_seconds, grace=settings.dispatch_grace_seconds
        )
        sweeper.start()
        sweepers.append(sweeper)

    def stop_sweeper(**_: Any) -> None:
        for sweeper in sweepers:
            sweeper.stop()

    signals.worker_ready.connect(start_sweeper, weak=False)
    signals.worker_shutdown.connect(stop_sweeper, weak=False)
    app.steps["consumer"].add(heartbeat_step(make_heartbeat(settings), interval=settings.worker_heartbeat_seconds))
    return app


def make_heartbeat(settings: Settings) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        path=Path(settings.worker_heartbeat_file),
        heartbeats=make_heartbeats(settings, make_redis(settings)),
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
        max_age_seconds=settings.worker_heartbeat_max_age_seconds,
    )
