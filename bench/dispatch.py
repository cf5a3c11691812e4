"""Dispatch decisions per second of the fair scheduler (``lua/sched_dispatch.lua``: pick the tenant with the
smallest virtual tag, its head job, reserve its quota, hand it out), with 1, 100 and 10,000 tenants holding
queued work, against the plain FIFO path (LPUSH, then one RPOP per decision), on one private redis-server over
one connection. Each decision is one call handing out one job. Every round sets each case up afresh (not timed)
and runs the cases in turn, so drift in machine load hits every case alike; the median round is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis

from bench.tables import rate_table
from karlo_core import keys, lua
from karlo_core.backends.catalogue import KARLO
from karlo_core.quota.policy import make_buckets
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from karlo_devstack.services import start_redis

FIFO = "plain FIFO: RPOP (baseline)"


def _fill(client: redis.Redis, tenants: int, jobs: int) -> None:
    """``jobs`` queued one-image jobs spread over ``tenants`` tenants, as accepting would leave them."""
    push = client.register_script(lua.load("sched_push"))
    with client.pipeline(transaction=False) as pipe:
        for i in range(jobs):
            job_id = f"bench-{i:08d}"
            pipe.hset(keys.job(job_id), mapping={"status": "queued", "attempts": 0})
            push(args=[KARLO, f"t{i % tenants}", job_id, 0, 1], client=pipe)
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()


def _timed(decide: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        decide()
    return count / (time.perf_counter() - start)


def run(workdir: Path, *, decisions: int, rounds: int, tenant_counts: tuple[int, ...] = (1, 100, 10_000)) -> str:
    proc, url = start_redis(workdir, persist=False)
    try:
        client = redis.Redis.from_url(url, decode_responses=True)
        settings = Settings(
            redis_url=url, quota_per_minute=10**9, quota_per_day=10**12, quota_per_month=10**12, dispatch_batch=1
        )
        scheduler = Scheduler(client, settings, make_buckets(settings, client))
        names = {n: f"fair scheduler, {n:,} tenant{'' if n == 1 else 's'}" for n in tenant_counts}
        rates: dict[str, list[float]] = {FIFO: [], **{name: [] for name in names.values()}}
        for _ in range(rounds):
            client.flushdb()
            client.lpush("bench:fifo", *[f"bench-{i:08d}" for i in range(decisions)])
            rates[FIFO].append(_timed(lambda: client.rpop("bench:fifo"), decisions))
            for n in tenant_counts:
                client.flushdb()
                _fill(client, n, max(decisions, n))
                rates[names[n]].append(_timed(lambda: scheduler.dispatch(KARLO, limit=1), decisions))
        return rate_table(("dispatch path", "decisions per second (median)", "relative to FIFO"), rates, FIFO)
    finally:
        proc.stop()
