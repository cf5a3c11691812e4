"""When a job queued for a local backend (open Karlo on the operator's GPUs) is expected to be handed out.

There capacity is slots, not quota windows: the dispatcher hands a job out when a slot is free and every job
the fair order puts ahead of it has one. The estimate plays that out over the slots (the setting, or the ready
workers by their heartbeats, as the dispatch step counts them), at the backend's measured pace
(``lua/sched_pace.lua``: weighted means of a succeeded job's run, claim to settle, and of its images):

- each job handed out and not finished frees its slot one run (at its size) after its claim, but not before
  now; one not claimed yet holds it a whole run from now;
- then the jobs ahead each take the slot that frees first, for one run at their size: the tenant's own jobs
  ahead at their mean size, interleaved with the images the fair order gives other tenants meanwhile (the
  scheduler's weighted shares), in jobs of the pace's mean size;
- the job starts when the next slot frees after them.

Without a pace (no job of the backend has succeeded since its Redis was new) or without a slot (no ready
worker), there is no estimate. Beyond :data:`SIMULATED_JOBS` jobs ahead, the rest's runs are spread evenly
over the slots.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import redis

from karlo_core import keys
from karlo_core.settings import Settings

#: Jobs ahead played out one by one (bounds an estimate's cost whatever the backlog).
SIMULATED_JOBS = 10_000

_HELD = ("queued", "waiting_for_quota", "running")


@dataclass(frozen=True)
class Pace:
    """A backend's measured pace: weighted means of a job's run in seconds and of its images."""

    seconds: float
    images: float
    runs: int

    def run_seconds(self, images: float) -> float:
        """Expected run of a job of ``images`` images: the mean run scaled by its size."""
        return self.seconds * images / self.images if self.images > 0 else self.seconds


@dataclass(frozen=True)
class Held:
    """A job holding a slot: its images, and seconds since its claim (None: handed out, not claimed yet)."""

    images: int
    ran: float | None


def jobs_ahead(jobs: int, images: float, others: float, pace: Pace) -> Iterator[float]:
    """Sizes of the jobs ahead in the fair order: the tenant's ``jobs`` jobs of ``images`` images in all, and
    ``others`` images of other tenants in jobs of the pace's mean size, interleaved evenly (lazily: a long
    backlog is not held in memory)."""
    count = math.ceil(others / pace.images - 1e-9) if others > 0 and pace.images > 0 else 0
    mine, theirs = 0, 0
    while mine < jobs or theirs < count:
        # the next of each at its even place in the order: (i + 0.5) / n, the tenant's first on a tie
        if theirs >= count or (mine < jobs and (mine + 0.5) * count <= (theirs + 0.5) * jobs):
            mine += 1
            yield images / jobs
        else:
            theirs += 1
            yield others / count


def slot_start(now: float, slots: int, pace: Pace, held: Sequence[Held], ahead: Iterator[float]) -> float:
    """When a job gets a slot after the ``held`` ones finish and the ``ahead`` ones have each run on the slot
    that frees first (see the module's description)."""
    frees = [now] * max(slots, 1)
    for job in sorted(held, key=lambda h: pace.run_seconds(h.images) - (h.ran or 0.0)):
        left = max(pace.run_seconds(job.images) - (job.ran or 0.0), 0.0)
        heapq.heappush(frees, heapq.heappop(frees) + left)
    for size in itertools.islice(ahead, SIMULATED_JOBS):
        heapq.heappush(frees, heapq.heappop(frees) + pace.run_seconds(size))
    rest = sum(pace.run_seconds(size) for size in ahead)
    return frees[0] + rest / len(frees)


class LocalEta:
    """Reads a local backend's pace, slots and jobs holding slots, and estimates a queued job's start."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def start_at(self, backend: str, *, jobs: int, images: float, others: float) -> float | None:
        """When a job is expected to be handed out with ``jobs`` of its tenant's jobs (``images`` images) and
        ``others`` images of other tenants ahead of it; None without a pace or a slot."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(keys.sched_pace(backend), "seconds", "images", "runs")
        pipe.smembers(keys.sched_inflight(backend))
        pipe.zrange(keys.backend_workers(backend), 0, -1, withscores=True)
        pipe.time()
        pace_raw, members, workers, clock = pipe.execute()
        now = float(clock[0]) + float(clock[1]) / 1e6  # heartbeats, claims and runs are on Redis's clock
        ready = now - self._settings.worker_heartbeat_max_age_seconds
        slots = self._settings.local_backend_slots or sum(1 for _, beat in workers if float(beat) >= ready)
        if not pace_raw[2] or slots <= 0:
            return None
        pace = Pace(float(pace_raw[0]), float(pace_raw[1]), int(pace_raw[2]))
        held = self._held(sorted(str(m) for m in members), now)
        return slot_start(now, slots, pace, held, jobs_ahead(jobs, images, others, pace))

    def _held(self, members: Sequence[str], now: float) -> list[Held]:
        """The jobs handed out and not finished, with how long each has run since its claim."""
        if not members:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for job_id in members:
            pipe.hmget(keys.job(job_id), "status", "sched_images", "claimed_at")
        held = []
        for status, images, claimed_at in pipe.execute():
            if status not in _HELD:
                continue
            # a running job's claimed_at is its current attempt's (every claim sets it)
            claimed = status == "running" and claimed_at is not None
            held.append(Held(int(images or 1), now - float(claimed_at) if claimed else None))
        return held
