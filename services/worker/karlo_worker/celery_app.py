"""The worker's Celery app: shared reliability settings, the tasks, and its periodic chores (sweeper, retention)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import redis
from celery import Celery, signals
from celery.exceptions import Reject

from karlo_core.backends.catalogue import backend_queue
from karlo_core.exposition import make_heartbeats
from karlo_core.queue import DELIVER_WEBHOOK_TASK, RUN_JOB_TASK, Queue, make_celery
from karlo_core.redis_client import make_redis
from karlo_core.retention import purge_if_due
from karlo_core.settings import Settings
from karlo_worker import pipeline
from karlo_worker.dispatching import TICK_POLL_SECONDS, Dispatcher, DispatchTick
from karlo_worker.heartbeat import WorkerHeartbeat, heartbeat_step
from karlo_worker.periodic import Periodic
from karlo_worker.runtime import WorkerRuntime, make_runtime, worker_queues
from karlo_worker.sweeper import clean_spool, dispatch_deliveries, recover_orphans, sweep_once

log = logging.getLogger(__name__)

#: How often each worker drops spooled images of finished jobs.
SPOOL_CLEAN_SECONDS = 60.0


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
    """The app, with its runtime built now: backends load (open Karlo's weights onto the device) before the
    worker consumes anything or reports itself alive and ready."""
    app = make_celery(settings, "karlo_worker")
    runtime = _RuntimeHolder(settings, app)
    consumed = worker_queues(settings)
    backends = [name for name in runtime.get().backends if backend_queue(name) in consumed]
    dispatcher = Dispatcher(runtime.get())

    @app.task(name=RUN_JOB_TASK, queue=Queue.JOBS.value, ignore_result=True)
    def run_job(*, job_id: str) -> None:
        try:
            ran = pipeline.run_job(job_id, runtime.get())
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # the job store blinked: keep the message
            raise Reject(exc, requeue=True) from exc
        try:  # the settled job's capacity (slot, or refunded quota) goes to the next in fair order at once
            dispatcher.after(ran)
        except Exception:
            log.warning("dispatch after a job failed; the tick dispatches", exc_info=True)

    @app.task(name=DELIVER_WEBHOOK_TASK, queue=Queue.WEBHOOKS.value, ignore_result=True)
    def deliver_webhook(*, job_id: str, seq: int) -> None:
        runtime.get().deliverer.deliver(job_id, seq)

    chores: list[Periodic] = []

    def start_chores(**_: Any) -> None:
        rt = runtime.get()
        broker = make_redis(settings.model_copy(update={"redis_url": settings.celery_broker_url}))
        grace = settings.dispatch_grace_seconds
        retention = settings.job_retention_seconds
        interval = settings.retention_sweep_interval_seconds
        chores.extend(
            [
                Periodic(
                    "karloq-sweeper",
                    lambda: sweep_once(rt.store, app, confirm=settings.dispatch_confirm_seconds, grace=grace),
                    interval=settings.sweep_interval_seconds,
                ),
                Periodic(
                    "karloq-orphans",
                    lambda: recover_orphans(rt.store, broker, older_than=settings.orphan_message_seconds, grace=grace),
                    interval=settings.orphan_message_seconds / 2,
                ),
                Periodic("karloq-dispatch", DispatchTick(rt, dispatcher), interval=TICK_POLL_SECONDS),
                Periodic("karloq-spool", lambda: clean_spool(rt.spool, rt.store), interval=SPOOL_CLEAN_SECONDS),
                Periodic(
                    "karloq-webhook-dispatch",
                    lambda: dispatch_deliveries(rt.outbox, app, lease=settings.webhook_dispatch_lease_seconds),
                    interval=settings.webhook_dispatch_interval_seconds,
                ),
                Periodic(
                    "karloq-retention",
                    lambda: purge_if_due(rt.redis, rt.storage, retention_seconds=retention, interval=interval),
                    interval=interval,
                ),
            ]
        )
        for chore in chores:
            chore.start()

    def stop_chores(**_: Any) -> None:
        for chore in chores:
            chore.stop()

    signals.worker_ready.connect(start_chores, weak=False)
    signals.worker_shutdown.connect(stop_chores, weak=False)
    heartbeat = make_heartbeat(settings, backends)
    app.steps["consumer"].add(heartbeat_step(heartbeat, interval=settings.worker_heartbeat_seconds))
    return app


def make_heartbeat(settings: Settings, backends: list[str]) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        path=Path(settings.worker_heartbeat_file),
        heartbeats=make_heartbeats(settings, make_redis(settings)),
        backends=backends,
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
        max_age_seconds=settings.worker_heartbeat_max_age_seconds,
    )
