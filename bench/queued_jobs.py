"""Helpers of the worker benchmarks: jobs queued as the API accepts them, minus HTTP (into their tenant's
scheduler queue, then handed out by dispatch steps with their quota reservations and Celery messages), a worker
held still while they are queued, and waiting until all have finished."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from karlo_core import keys
from karlo_core.backends.catalogue import KARLO
from karlo_core.ids import new_job_id
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import EventRetention, JobStore
from karlo_core.queue import make_celery
from karlo_core.quota.policy import make_buckets
from karlo_core.redis_client import make_redis
from karlo_core.scheduler import Scheduler, dispatch_and_send
from karlo_core.settings import Settings
from karlo_devstack.processes import wait_until


class JobQueuer:
    """Queues generate jobs the way an accept does: each into its tenant's scheduler queue, with its events going
    to its tenant's event stream (as every accepted job's do), then dispatch steps (with the workers' settings,
    so the same quota limits) hand them out, reserving their quota and pushing their Celery messages."""

    def __init__(self, settings: Settings) -> None:
        client = make_redis(settings)
        self.store = JobStore(client)
        self._settings = settings
        self._events = EventRetention(settings.event_stream_max_events, settings.event_stream_max_age_seconds)
        self._scheduler = Scheduler(client, settings, make_buckets(settings, client))
        self._celery = make_celery(settings, "bench")

    def queue(self, params: GenerateParams, count: int) -> list[str]:
        """``count`` generate jobs, queued and all handed out (capacity allowing)."""
        ids = []
        grace = self._settings.dispatch_grace_seconds
        for _ in range(count):
            job = Job(
                id=new_job_id(), kind=JobKind.GENERATE, status=JobStatus.QUEUED, params=params, created_at=time.time()
            )
            self.store.create(job, dispatch_grace=grace, events=self._events, schedule_offset=0.0)
            ids.append(job.id)
        while True:  # a step hands out at most KARLOQ_DISPATCH_BATCH jobs
            sent = dispatch_and_send(self._scheduler, self.store, self._celery, [KARLO], grace=grace)
            if not any(step.handed for step in sent.steps):
                break
        return ids


def wait_drained(client: redis.Redis, *, timeout: float = 600.0) -> int:
    """Wait until no job is active (the deadlines set is empty); how many polls it took (one ZCARD each)."""
    polls = 0

    def drained() -> bool:
        nonlocal polls
        polls += 1
        return int(client.zcard(keys.job_deadlines())) == 0

    wait_until(drained, timeout=timeout, what="the queue to drain", interval=0.01)
    return polls


def failed_jobs(store: JobStore, ids: list[str]) -> int:
    return sum(1 for job in store.get_many(ids) if job is None or job.status is not JobStatus.SUCCEEDED)


@dataclass
class Held:
    """A worker process stopped (SIGSTOP) while work is queued for it, so its drain is timed from a full queue."""

    pid: int

    def __enter__(self) -> Held:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *_: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def memory_bytes(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of ``/proc/PID/status``: resident now (``VmRSS``) or at its peak (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls per Redis command so far (``INFO commandstats``)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


@contextmanager
def round_trips(redis_url: str) -> Iterator[Counter[str]]:
    """Commands clients send (round trips, by command) while the block runs, through ``MONITOR``: a command a
    script runs is not one (``INFO commandstats`` counts those too). Too slow to time anything meanwhile."""
    counts: Counter[str] = Counter()
    stop = threading.Event()
    watcher = redis.Redis.from_url(redis_url, decode_responses=True)

    def watch() -> None:
        with watcher.monitor() as monitor:  # type: ignore[no-untyped-call]
            ready.set()
            for command in monitor.listen():
                if stop.is_set():
                    return
                if command.get("client_type") != "lua":
                    counts[str(command["command"]).split(" ", 1)[0].lower()] += 1

    ready = threading.Event()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield counts
    finally:
        stop.set()
        with redis.Redis.from_url(redis_url) as poke:
            poke.ping()  # wakes the watcher to see it should stop
        thread.join(10)
        watcher.close()


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] > before.get(name, 0)}
