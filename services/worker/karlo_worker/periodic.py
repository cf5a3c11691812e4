"""A daemon thread running one chore every ``interval`` seconds until stopped: the worker's scheduled chores
(dispatch sweeps, webhook dispatch), its heartbeat keeper and the lease keeper of all its jobs.

The first run is one interval after :meth:`start`. A chore that raises is logged and run again next time; a
chore may call :meth:`stop` itself to end the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic(threading.Thread):
    def __init__(self, name: str, chore: Callable[[], object], *, interval: float) -> None:
        super().__init__(name=name, daemon=True)
        self._chore = chore
        self._interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                self._chore()
            except Exception:
                log.warning("%s failed", self.name, exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()
