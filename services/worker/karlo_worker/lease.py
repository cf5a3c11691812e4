"""Keeps a job's lease alive while a worker thread works on it."""

from __future__ import annotations

import logging
from types import TracebackType

from karlo_core.jobstore import JobStore
from karlo_worker.periodic import Periodic

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Context manager: extends the lease every third of its length until the block ends.

    If the worker process dies, extensions stop, the lease runs out and the sweeper hands the job to
    another worker. A lease found lost (another worker claimed the job) is not extended again; the block's
    settle step then finds it lost too, and keeps nothing.
    """

    def __init__(self, store: JobStore, job_id: str, token: str, *, lease_seconds: float) -> None:
        self._store = store
        self._job_id = job_id
        self._token = token
        self._lease = lease_seconds
        self._keeper = Periodic(f"lease-{job_id}", self._extend, interval=lease_seconds / 3)

    def __enter__(self) -> LeaseKeeper:
        self._keeper.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._keeper.stop()
        self._keeper.join()

    def _extend(self) -> None:
        try:
            if not self._store.extend_lease(self._job_id, self._token, lease_seconds=self._lease):
                log.warning("lease lost", extra={"job_id": self._job_id})
                self._keeper.stop()
        except Exception:  # a Redis blip: try again next tick, the lease has slack
            log.warning("lease extension failed", extra={"job_id": self._job_id}, exc_info=True)
