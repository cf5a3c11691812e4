"""The worker's part in dispatching: a step after a job it ran when that may hand out something new, and a tick
that runs a step when quota is next expected to free up (and at least every KARLOQ_DISPATCH_TICK_SECONDS), so a
queued job never waits on a request or a settle that does not come.

A step after a job is skipped when it could hand out nothing the last step left: the job freed no capacity (a
hosted-Karlo job that succeeded keeps its quota spent; only a refund, a requeue or a local backend's slot frees
any) and the last step this process ran for that backend handed out less than a full batch (everything that
fit went then; what did not fit waits for the time the tick wakes at). Accepts and batches run steps of their
own; when one leaves more than a full batch waiting, this process's next tick finds a full batch, and its steps
after jobs run again. The skipped step would be one round trip per job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from karlo_core.scheduler import dispatch_and_send
from karlo_worker.pipeline import Ran
from karlo_worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)

#: How often the tick looks whether a step is due (its precision when waking for freed quota).
TICK_POLL_SECONDS = 0.25


class Dispatcher:
    """One per worker process: runs its dispatch steps, remembering for each backend whether its last step
    handed out a full batch (so more may fit now). A backend not stepped yet counts as full."""

    def __init__(self, rt: WorkerRuntime) -> None:
        self._rt = rt
        self._full: dict[str, bool] = {}
        self._lock = threading.Lock()

    def step(self, backends: Sequence[str] | None = None) -> float | None:
        """One step for each of ``backends`` (every enabled one by default); the earliest moment capacity is
        expected to free up."""
        settings = self._rt.settings
        names = list(backends) if backends is not None else settings.backend_names
        rt = self._rt
        sent = dispatch_and_send(rt.scheduler, rt.store, rt.celery, names, grace=settings.dispatch_grace_seconds)
        with self._lock:
            for step in sent.steps:
                self._full[step.backend] = len(step.handed) >= settings.dispatch_batch
        return sent.wake_at

    def after(self, ran: Ran) -> None:
        """The step after a job ran: for its backend, unless it could hand out nothing new (see the module)."""
        if ran.backend is None or ran.backend not in self._rt.settings.backend_names:  # look at every backend
            self.step()
            return
        with self._lock:
            full = self._full.get(ran.backend, True)
        if ran.freed or full:
            self.step([ran.backend])


class DispatchTick:
    """A chore for :class:`karlo_worker.periodic.Periodic` run every :data:`TICK_POLL_SECONDS`: a step is due
    at the wake time the last step named, or ``tick_seconds`` after it, whichever comes first."""

    def __init__(self, rt: WorkerRuntime, dispatcher: Dispatcher) -> None:
        self._rt = rt
        self._dispatcher = dispatcher
        self._due = 0.0

    def __call__(self) -> None:
        now = time.time()
        if now < self._due:
            return
        wake = self._dispatcher.step()
        self._due = now + self._rt.settings.dispatch_tick_seconds
        if wake is not None:
            self._due = min(self._due, now + max(wake - self._rt.quota.now(), 0.0) + 0.05)
