"""The worker's part in dispatching: a step after every job it settles, and a tick that runs a step when quota
is next expected to free up (and at least every KARLOQ_DISPATCH_TICK_SECONDS), so a queued job never waits on
a request or a settle that does not come."""

from __future__ import annotations

import logging
import time

from karlo_core.scheduler import dispatch_and_send
from karlo_worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)

#: How often the tick looks whether a step is due (its precision when waking for freed quota).
TICK_POLL_SECONDS = 0.25


def dispatch_step(rt: WorkerRuntime) -> float | None:
    """One step for every enabled backend; returns the earliest moment capacity is expected to free up."""
    settings = rt.settings
    names = settings.backend_names
    return dispatch_and_send(rt.scheduler, rt.store, rt.celery, names, grace=settings.dispatch_grace_seconds).wake_at


class DispatchTick:
    """A chore for :class:`karlo_worker.periodic.Periodic` run every :data:`TICK_POLL_SECONDS`: a step is due
    at the wake time the last step named, or ``tick_seconds`` after it, whichever comes first."""

    def __init__(self, rt: WorkerRuntime) -> None:
        self._rt = rt
        self._due = 0.0

    def __call__(self) -> None:
        now = time.time()
        if now < self._due:
            return
        wake = dispatch_step(self._rt)
        self._due = now + self._rt.settings.dispatch_tick_seconds
        if wake is not None:
            self._due = min(self._due, now + max(wake - self._rt.quota.now(), 0.0) + 0.05)
