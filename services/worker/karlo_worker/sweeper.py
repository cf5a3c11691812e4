"""Re-dispatches jobs whose deadline passed: lost messages, and jobs whose worker died mid-run."""

from __future__ import annotations

import logging
import threading

from celery import Celery

from karlo_core.jobstore import JobStore
from karlo_core.queue import enqueue_job

log = logging.getLogger(__name__)

BATCH = 200


def sweep_once(store: JobStore, celery: Celery, *, grace: float) -> list[str]:
    ids = store.due_for_dispatch(limit=BATCH, grace=grace)
    for job_id in ids:
        enqueue_job(celery, job_id)
        log.info("job re-dispatched", extra={"job_id": job_id})
    return ids


class Sweeper(threading.Thread):
    """Runs :func:`sweep_once` every ``interval`` seconds in the worker's main process."""

    def __init__(self, store: JobStore, celery: Celery, *, interval: float, grace: float) -> None:
        super().__init__(name="karloq-sweeper", daemon=True)
        self._store = store
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

    def stop(self) -> None:
        self._stop_event.set()
