"""Re-dispatches jobs whose deadline passed (lost messages, workers that died mid-run), and sends webhook
deliveries whose next attempt is due to the webhooks queue (so a lost message only delays a delivery)."""

from __future__ import annotations

import logging
import threading

from celery import Celery

from karlo_core.jobstore import JobStore
from karlo_core.queue import enqueue_delivery, enqueue_job
from karlo_core.webhooks.outbox import Outbox

log = logging.getLogger(__name__)

BATCH = 200


def sweep_once(store: JobStore, celery: Celery, *, grace: float) -> list[str]:
    ids = store.due_for_dispatch(limit=BATCH, grace=grace)
    for job_id in ids:
        enqueue_job(celery, job_id)
        log.info("job re-dispatched", extra={"job_id": job_id})
    return ids


def dispatch_deliveries(outbox: Outbox, celery: Celery, *, lease: float) -> list[tuple[str, int]]:
    due = outbox.due(limit=BATCH, lease_seconds=lease)
    for job_id, seq in due:
        enqueue_delivery(celery, job_id, seq)
    return due


class Sweeper(threading.Thread):
    """Runs :func:`sweep_once` every ``interval`` seconds in the worker's main process."""

    def __init__(
        self, store: JobStore, outbox: Outbox, celery: Celery, *, interval: float, grace: float, delivery_lease: float
    ) -> None:
        super().__init__(name="karloq-sweeper", daemon=True)
        self._store = store
        self._outbox = outbox
        self._delivery_lease = delivery_lease
        self._celery = celery
        self._interval = interval
        self._grace = grace
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                sweep_once(self._store, self._celery, grace=self._grace)
            except Exception:
                log.warning("sweep failed", exc_info=True)
            try:
                dispatch_deliveries(self._outbox, self._celery, lease=self._delivery_lease)
            except Exception:
                log.warning("webhook dispatch failed", exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()
