"""The accept script's cost as the backlog grows: redis-server CPU per ``job_accept.lua`` call after 0, 2,000,
10,000 and 30,000 jobs were accepted before it (no worker running), against a baseline measured at each step.

A private redis-server (no persistence); the script is called the way the API calls it (``JobAcceptor``, its
asyncio client), with the API benchmark's settings (no cap, upstream quota unlimited, a tenant share on the
day so each accept checks one, events on the tenant's stream). Two backlogs:
- ``handed out``: every job is handed out as it is accepted (its Celery message pushed, its deadline set, its
  reservation in the minute logs), none run: the jobs queue, the deadlines, the index and the stream grow;
- ``queued``: the upstream minute quota is 1,000 images, so after the first 1,000 every job waits in its
  tenant's queue (``waiting_for_quota``) and each accept's dispatch step finds the head blocked by a full
  minute window (its log 1,000 entries long).
At each backlog size, ``calls`` more accepts are timed by Redis itself (``INFO commandstats``'s
``usec_per_call``, reset first), in slices interleaved with as many calls of each baseline: ``LPUSH`` of a
message about the size of the script's, and a trivial ``EVAL`` (``return 1`` with as many keys and arguments), so a
figure is a ratio to the same moment's baseline. Rounds start from an empty Redis.
``python -m bench.accept_backlog --script FILE`` times another (expanded) accept script instead, to compare
two versions in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
import redis.asyncio as aioredis

from karlo_core import keys, lua, tenants
from karlo_core.ids import new_job_id
from karlo_core.job_accept import AcceptCall, Accepted, JobAcceptor
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import EventRetention
from karlo_core.quota.buckets import QuotaBuckets
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from karlo_devstack.services import start_redis

LEVELS = (0, 2000, 10000, 30000)
#: Accepts in flight at once while the backlog is filled (untimed).
FILL_CONCURRENCY = 32
BIG = 10**9
TRIVIAL = "return 1"
#: Each backlog size's timed calls come in this many slices, each slice the accepts then the two baselines.
SLICES = 5
#: The upstream minute quota of the queued case: every job past the first this many waits.
QUEUED_MINUTE = 1000


def _settings(redis_url: str, upstream_minute: int) -> Settings:
    return Settings(
        redis_url=redis_url,
        _env_file=None,
        max_active_jobs_per_tenant=0,
        quota_per_minute=upstream_minute,
        quota_per_day=BIG,
        quota_per_month=BIG,
        tenant_quota_per_day=BIG,
    )


def _call(tenant: str) -> AcceptCall:
    job = Job(
        id=new_job_id(),
        kind=JobKind.GENERATE,
        status=JobStatus.QUEUED,
        params=GenerateParams(prompt="a benchmark"),
        created_at=0.0,
        tenant=tenant,
    )
    return AcceptCall(job=job, images=job.images_wanted, check_share=True)


def _usec_per_call(client: redis.Redis, command: str) -> float:
    return float(client.info("commandstats").get(f"cmdstat_{command}", {}).get("usec_per_call", 0.0))


async def _ladder(
    redis_url: str, upstream_minute: int, levels: tuple[int, ...], calls: int, script: str
) -> list[tuple[float, ...]]:
    """Per level: (accept usec per call, LPUSH usec per call, trivial EVAL usec per call)."""
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    sync.flushall()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    settings = _settings(redis_url, upstream_minute)
    buckets = QuotaBuckets(sync, tz=ZoneInfo(settings.quota_timezone), minute_seconds=60)
    events = EventRetention(settings.event_stream_max_events, settings.event_stream_max_age_seconds)
    acceptor = JobAcceptor(client, buckets, Scheduler(sync, settings, buckets), settings, events=events)
    acceptor._script = script
    acceptor._sha = sync.script_load(script)
    tenant = tenants.create_tenant(sync, "bench")
    message = "x" * 1300  # about a Celery message's size
    accepted = 0
    out: list[tuple[float, ...]] = []
    try:
        for level in levels:
            while accepted < level:
                batch = min(FILL_CONCURRENCY, level - accepted)
                await asyncio.gather(*(acceptor.accept(_call(tenant)) for _ in range(batch)))
                accepted += batch
            sync.config_resetstat()
            job_keys = [keys.job(new_job_id()) for _ in range(25)]
            for _ in range(SLICES):  # the three interleaved, so drift in the machine's load hits all three
                for _ in range(calls // SLICES):
                    outcome = await acceptor.accept(_call(tenant))
                    if not isinstance(outcome, Accepted):
                        raise RuntimeError(f"not accepted: {outcome}")
                for _ in range(calls // SLICES):
                    await client.lpush("bench:bare", message)
                for _ in range(calls // SLICES):
                    await client.eval(TRIVIAL, len(job_keys), *job_keys, *(["an argument"] * 30))
            accepted += calls // SLICES * SLICES
            await client.delete("bench:bare")
            out.append(tuple(_usec_per_call(sync, command) for command in ("evalsha", "lpush", "eval")))
    finally:
        await client.aclose()
        sync.close()
    return out


def _median_spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def run(workdir: Path, *, rounds: int, calls: int, levels: tuple[int, ...] = LEVELS, script: str | None = None) -> str:
    text = script if script is not None else lua.load("job_accept")
    proc, redis_url = start_redis(workdir, persist=False)
    try:
        lines = [
            f"{calls} timed accepts per backlog size, {rounds} rounds; median (range of rounds); usec per call as "
            "Redis times it (`INFO commandstats`)",
            "",
            "| backlog | accept script, us | LPUSH, us | trivial EVAL, us | script / LPUSH "
            "| script / trivial EVAL | script / script at 0 |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, minute in (("handed out", BIG), ("queued", QUEUED_MINUTE)):
            results = [asyncio.run(_ladder(redis_url, minute, levels, calls, text)) for _ in range(rounds)]
            for i, level in enumerate(levels):
                accept = [r[i][0] for r in results]
                lpush = [r[i][1] for r in results]
                trivial = [r[i][2] for r in results]
                lines.append(
                    f"| {level:,} {name} | {_median_spread(accept, '{:.1f}')} | {_median_spread(lpush, '{:.1f}')} "
                    f"| {_median_spread(trivial, '{:.1f}')} "
                    f"| {_median_spread([s / b for s, b in zip(accept, lpush, strict=True)], '{:.0f}')} "
                    f"| {_median_spread([s / b for s, b in zip(accept, trivial, strict=True)], '{:.1f}')} "
                    f"| {_median_spread([r[i][0] / r[0][0] for r in results])} |"
                )
        return "\n".join(lines)
    finally:
        proc.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=500, help="timed accepts per backlog size")
    parser.add_argument("--levels", default=",".join(str(n) for n in LEVELS), help="backlog sizes, comma-separated")
    parser.add_argument("--script", type=Path, help="an expanded accept script to time instead of the package's")
    args = parser.parse_args(argv)
    levels = tuple(int(n) for n in args.levels.split(","))
    script = args.script.read_text(encoding="utf-8") if args.script else None
    with tempfile.TemporaryDirectory(prefix="karloq-bench-") as workdir:
        print(run(Path(workdir), rounds=args.rounds, calls=args.calls, levels=levels, script=script))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
