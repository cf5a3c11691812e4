"""Accepting jobs in one batch request against one POST per job, in the same run.

Real processes: redis-server and one API process (no worker: only acceptance is timed). Each round submits N
generate jobs one POST at a time, then N jobs as one ``POST /v1/batches``; the cases alternate and the median
is reported, with the Redis commands each job cost (``INFO stats`` before and after, so pipelined commands
count one by one even though they travel in a few round trips).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from karlo_core import tenants
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_api, start_redis

SINGLE = "one POST /v1/jobs per job (baseline)"
BATCH = "one POST /v1/batches"
JOB: dict[str, Any] = {"input": {"prompt": "a benchmark", "width": 384, "height": 384}}


def _commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def _singles(http: httpx.Client, jobs: int) -> None:
    for _ in range(jobs):
        http.post("/v1/jobs", json=JOB).raise_for_status()


def _batch(http: httpx.Client, jobs: int) -> None:
    http.post("/v1/batches", json={"jobs": [JOB] * jobs}).raise_for_status()


def run(workdir: Path, *, jobs: int, rounds: int) -> str:
    processes: list[ManagedProcess] = []
    try:
        redis_proc, redis_url = start_redis(workdir, persist=False)
        processes.append(redis_proc)
        env = {
            "KARLOQ_REDIS_URL": redis_url,
            "KARLOQ_STORAGE_URL": f"file://{workdir / 'storage'}",
            "KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT": "0",
            "KARLOQ_LOG_LEVEL": "WARNING",
        }
        api_proc, api_url = start_api(workdir, env)
        processes.append(api_proc)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        key = tenants.issue_key(client, tenants.create_tenant(client, "bench")).secret_key
        cases = {SINGLE: _singles, BATCH: _batch}
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        commands: dict[str, list[int]] = {name: [] for name in cases}
        with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            _singles(http, 10)  # warm-up
            _batch(http, 10)
            for _ in range(rounds):
                for name, submit in cases.items():
                    before = _commands(client)
                    start = time.perf_counter()
                    submit(http, jobs)
                    seconds[name].append(time.perf_counter() - start)
                    commands[name].append(_commands(client) - before)
        client.close()
        base = statistics.median(seconds[SINGLE]) / jobs
        lines = [
            f"| case ({jobs} jobs) | ms per job (median) | relative to single POSTs | Redis commands per job |",
            "|---|---:|---:|---:|",
        ]
        for name in cases:
            per_job = statistics.median(seconds[name]) / jobs
            per_job_commands = statistics.median(commands[name]) / jobs
            lines.append(f"| {name} | {per_job * 1000:.2f} | {per_job / base:.2f} | {per_job_commands:.1f} |")
        return "\n".join(lines)
    finally:
        for proc in reversed(processes):
            proc.stop()
