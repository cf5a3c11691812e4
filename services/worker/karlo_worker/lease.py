"""Keeps a job's lease alive while a worker thread works on it."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from karlo_core.jobstore import JobStore

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Context manager: extends the lease every third of its length until the block ends.

    If the worker process dies, extensions stop, the lease runs out and the sweeper hands the job to
    another worker.
    """

    def __init__(self, store: JobStore, job_id: str, token: str, *, lease_seconds: float) -> None:
        self._store = store
        self._job_id = job_id
        self._token = token
        self._lease = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                if not self._store.extend_lease(self._job_id, self._token, lease_seconds=self._lease):
                    log.warning("lease lost", extra={"job_id": self._job_id})
                    return
            except Exception:  # a Redis blip: try again next tick, the lease has slack
                log.warning("lease extension failed", extra={"job_id": self._job_id}, exc_info=True)
