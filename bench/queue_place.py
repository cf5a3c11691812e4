"""Reading a queued job's place and estimated start (``Scheduler.place``, what ``GET /v1/jobs/{id}`` adds for
a queued job): Redis round trips per call (requests the client sends, a pipeline being one), the commands
Redis runs for it outside scripts (``MONITOR``) and ``INFO commandstats``'s ``evalsha`` calls, and calls per
second against one ``HGETALL`` of the job's hash (the read every job view makes anyway) on the same
connection.

The queue is a busy one, set up once: ``jobs`` queued 1-4 image jobs of the tenant read (no plan of its own),
four other tenants with 20 one-image jobs each, and one dispatch step that filled the upstream minute log
(18 images a window). The job read is the tenant's 20th. Each round times both cases in turn, so drift in the
machine's load hits both; the median round and the range of the rounds are reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.redis_counts import commands_and_scripts
from karlo_core import keys
from karlo_core.backends.catalogue import KARLO
from karlo_core.ids import new_job_id
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import JobStore
from karlo_core.quota.policy import make_buckets
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from karlo_devstack.services import start_redis

TENANT = "reader"
READ_RANK = 19


def _fill(store: JobStore, jobs: int) -> list[str]:
    """The tenant's queued jobs (ids in queue order) and the other tenants' one-image jobs, stored and queued
    as accepting them would."""
    mine = [_queue(store, TENANT, 1 + (i * 7 + i // 4) % 4) for i in range(jobs)]
    for other in range(4):
        for _ in range(20):
            _queue(store, f"t{other}", 1)
    return mine


def _queue(store: JobStore, tenant: str, images: int) -> str:
    params = GenerateParams(prompt="p", samples=images)
    job = Job(new_job_id(), JobKind.GENERATE, JobStatus.QUEUED, params, time.time(), tenant=tenant)
    assert store.create(job, dispatch_grace=60, schedule_offset=0.0)
    return job.id


class _Counting(redis.connection.Connection):
    """A connection that counts the requests it sends (a pipeline is sent as one)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        _Counting.sent += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def _round_trips(client: redis.Redis, call: Callable[[], object], calls: int) -> tuple[float, float, float]:
    """Per call: round trips (requests sent on ``_Counting`` connections), commands Redis ran outside scripts
    (``MONITOR``: a script's own commands show as ``lua``), and ``evalsha`` calls (``INFO commandstats``)."""
    call()  # scripts loaded
    sent = _Counting.sent

    def call_all() -> None:
        for _ in range(calls):
            call()

    commands, evalsha = commands_and_scripts(client, call_all)
    return (_Counting.sent - sent) / calls, commands / calls, evalsha / calls


def _rate(call: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return calls / (time.perf_counter() - start)


def _median_range(values: list[float], fmt: str) -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def run(workdir: Path, *, jobs: int, calls: int, rounds: int) -> str:
    proc, url = start_redis(workdir, persist=False)
    try:
        client = redis.Redis.from_url(url, decode_responses=True)
        settings = Settings(
            redis_url=url,
            quota_per_minute=18,
            quota_per_day=10**6,
            quota_per_month=10**7,
            quota_minute_window_seconds=3600,
            dispatch_batch=100,
        )
        scheduler = Scheduler(client, settings, make_buckets(settings, client))
        store = JobStore(client)
        queued = _fill(store, jobs)
        scheduler.dispatch(KARLO)  # the minute log full, the rest waiting
        job_id = client.zrange(keys.sched_queue(KARLO, TENANT), READ_RANK, READ_RANK)[0]
        assert job_id in queued
        job = Job(job_id, JobKind.GENERATE, JobStatus.QUEUED, GenerateParams(prompt="p"), time.time(), tenant=TENANT)
        place = scheduler.place(job)
        assert place is not None and place.estimated_start_at is not None

        counting = redis.Redis.from_url(url, decode_responses=True, connection_class=_Counting)
        counted = Scheduler(counting, settings, make_buckets(settings, counting))

        def read_place() -> object:
            return scheduler.place(job)

        def read_place_counted() -> object:
            return counted.place(job)

        def read_job() -> object:
            return client.hgetall(keys.job(job_id))

        trips, commands, evalsha = _round_trips(client, read_place_counted, 50)
        place_rates: list[float] = []
        hgetall_rates: list[float] = []
        for _ in range(rounds):
            hgetall_rates.append(_rate(read_job, calls))
            place_rates.append(_rate(read_place, calls))
        ratios = [p / h for p, h in zip(place_rates, hgetall_rates, strict=True)]
        return "\n".join(
            [
                f"{jobs} queued jobs of the tenant read, 4 other tenants, the job read 20th in its queue; "
                f"{calls} calls per case per round, {rounds} rounds; median (range of rounds)",
                "",
                "| figure | value |",
                "|---|---:|",
                f"| Redis round trips per place read (requests sent; a pipeline is one) | {trips:.2f} |",
                f"| commands Redis ran per place read outside scripts (MONITOR) | {commands:.2f} |",
                f"| `evalsha` calls per place read (INFO commandstats) | {evalsha:.2f} |",
                f"| place reads per second | {_median_range(place_rates, '{:,.0f}')} |",
                f"| `HGETALL` of the job per second (baseline) | {_median_range(hgetall_rates, '{:,.0f}')} |",
                f"| place reads / `HGETALL` | {_median_range(ratios, '{:.3f}')} |",
            ]
        )
    finally:
        proc.stop()
