"""Keeps the leases of every job a worker process runs alive, with one thread and one round trip per tick.

Each job's lease is extended once a third of its length has passed since the last extension; all leases due
are extended together in one pipeline. If the worker process dies, extensions stop, the lease runs out and
the sweeper hands the job to another worker. An extension also says whether a cancel has been requested, so a
running job learns of its cancel without a read of its own. A lease found lost (another worker claimed the
job) is not extended again; the job's settle step then finds it lost too, and keeps nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from karlo_core.jobstore import JobStore, LeaseState
from karlo_worker.periodic import Periodic

log = logging.getLogger(__name__)


@dataclass
class Lease:
    """One held lease, as its last extension found it (written by the keeper's thread, read by the job's)."""

    job_id: str
    token: str
    extended_at: float = field(default_factory=time.monotonic)
    cancel_requested: bool = False
    lost: bool = False


class LeaseKeeper:
    """One per worker process: :meth:`hold` a job's lease while working on it."""

    def __init__(self, store: JobStore, *, lease_seconds: float) -> None:
        self._store = store
        self._lease_seconds = lease_seconds
        self._every = lease_seconds / 3
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._thread: Periodic | None = None

    @contextmanager
    def hold(self, job_id: str, token: str) -> Iterator[Lease]:
        """Keep this lease alive until the block ends."""
        lease = Lease(job_id, token)
        with self._lock:
            self._held[token] = lease
            if self._thread is None or not self._thread.is_alive():
                self._thread = Periodic("karloq-leases", self.extend_due, interval=self._every / 2)
                self._thread.start()
        try:
            yield lease
        finally:
            with self._lock:
                self._held.pop(token, None)

    def cancel_requested(self, token: str) -> bool:
        """Whether the last extension of this lease found a cancel requested (no round trip of its own)."""
        with self._lock:
            lease = self._held.get(token)
        return lease is not None and lease.cancel_requested

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def extend_due(self) -> None:
        """Extend every lease last extended a third of its length ago or more, in one round trip."""
        now = time.monotonic()
        with self._lock:
            due = [lease for lease in self._held.values() if not lease.lost and now - lease.extended_at >= self._every]
        if not due:
            return
        try:
            states = self._store.extend_leases([(d.job_id, d.token) for d in due], lease_seconds=self._lease_seconds)
        except Exception:  # a Redis blip: try again next tick, the leases have slack
            log.warning("lease extension failed", extra={"jobs": len(due)}, exc_info=True)
            return
        for lease, state in zip(due, states, strict=True):
            lease.extended_at = now
            if state is LeaseState.LOST:
                lease.lost = True
                log.warning("lease lost", extra={"job_id": lease.job_id})
            elif state is LeaseState.CANCEL_REQUESTED:
                lease.cancel_requested = True

    def stop(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._thread.stop()
