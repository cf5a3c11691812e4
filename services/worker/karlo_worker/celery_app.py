"""The worker's Celery app: shared reliability settings, the tasks, and the sweeper's life cycle."""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery, signals

from karlo_core.queue import DELIVER_WEBHOOK_TASK, RUN_JOB_TASK, Queue, make_celery
from karlo_core.settings import Settings
from karlo_worker import pipeline
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

    @app.task(name=DELIVER_WEBHOOK_TASK, queue=Queue.WEBHOOKS.value, ignore_result=True)
    def deliver_webhook(*, job_id: str, seq: int) -> None:
        runtime.get().deliverer.deliver(job_id, seq)

    sweepers: list[Sweeper] = []

    def start_sweeper(**_: Any) -> None:
        rt = runtime.get()
        sweeper = Sweeper(
            rt.store,
            rt.outbox,
            app,
            interval=settings.sweep_interval_seconds,
            grace=settings.dispatch_grace_seconds,
            delivery_lease=settings.webhook_dispatch_lease_seconds,
        )
        sweeper.start()
        sweepers.append(sweeper)

    def stop_sweeper(**_: Any) -> None:
        for sweeper in sweepers:
            sweeper.stop()

    signals.worker_ready.connect(start_sweeper, weak=False)
    signals.worker_shutdown.connect(stop_sweeper, weak=False)
    return app
