"""Accepting jobs: the API against a bare FastAPI app doing one Redis ``LPUSH``, and what an accept costs.

Real processes on one machine: a private redis-server (no persistence), the API (one uvicorn process, no
worker while accepts are measured), and the baseline, a bare FastAPI app (one uvicorn process) whose
``POST /v1/jobs`` does one ``LPUSH`` on redis.asyncio. The in-repo load generator (``bench/loadgen.py``,
asyncio, keep-alive) holds ``connections`` connections open, each sending a request as soon as the previous
one is answered; the two cases alternate, round after round, so drift in the machine's load hits both.

Figures, each the median over rounds with the spread of the rounds:
- accepts per second, p50 and p99 latency, and server CPU per request, API against bare; and the
  redis-server's CPU per request in each case (it shares the machine's cores with the server measured);
- Redis round trips per accepted job, counted with ``MONITOR`` (commands a script runs show as ``lua`` and
  are not round trips), and ``INFO commandstats``'s ``evalsha`` calls per job;
- accept throughput with a minute quota log of 1 entry against one of 5,000 (both scopes, refilled before
  each round), the API alone;
- ``Prefer: wait``: how long after the job's ``completed_at`` its answer arrives (median of ``prefer_jobs``
  jobs, one worker, the simulator answering at once).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import redis

from bench import loadgen
from bench.cpu_shares import cpu_seconds
from bench.redis_counts import commands_and_scripts
from bench.stack_env import local_stack_env
from karlo_core import keys, tenants
from karlo_devstack.processes import ManagedProcess, free_port
from karlo_devstack.services import start_api, start_redis, start_simulator, start_worker
from karlo_sim.config import DEFAULT_SIM_KEY

BODY = {"input": {"prompt": "a benchmark"}}


@dataclass(frozen=True)
class Round:
    rate: float
    p50: float
    p99: float
    cpu_per_request: float
    #: The redis-server process's CPU over the round, per request: the two share the machine's cores.
    redis_cpu_per_request: float


def _round(url: str, request: bytes, pid: int, redis_pid: int, *, connections: int, seconds: float) -> Round:
    cpu, redis_cpu = cpu_seconds(pid), cpu_seconds(redis_pid)
    load = loadgen.run(url, request, connections=connections, seconds=seconds)
    used, redis_used = cpu_seconds(pid) - cpu, cpu_seconds(redis_pid) - redis_cpu
    if set(load.statuses) != {202}:
        raise RuntimeError(f"not every request was accepted: {dict(load.statuses)}")
    requests = len(load.latencies)
    return Round(load.rate, load.percentile(0.5), load.percentile(0.99), used / requests, redis_used / requests)


def _start_bare(workdir: Path, redis_url: str) -> tuple[ManagedProcess, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "bench.bare_accept", str(port), redis_url]
    proc = ManagedProcess("bare", argv, log_path=workdir / "logs" / "bare.log").start()
    proc.wait_ready(lambda: _answers(url))
    return proc, url


def _answers(url: str) -> bool:
    try:
        return httpx.post(f"{url}/v1/jobs", json=BODY, timeout=2).status_code == 202
    except httpx.HTTPError:
        return False


def _fill_minute_logs(client: redis.Redis, scopes: list[str], entries: int) -> None:
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    for scope in scopes:
        with client.pipeline() as pipe:
            pipe.delete(keys.quota_minute(scope), keys.quota_minute_total(scope))
            for start in range(0, entries, 1000):
                batch = {f"fill-{i}:1": now - 1 + i / 1e6 for i in range(start, min(start + 1000, entries))}
                pipe.zadd(keys.quota_minute(scope), batch)
            pipe.set(keys.quota_minute_total(scope), entries)
            pipe.execute()


def _round_trips(client: redis.Redis, url: str, headers: dict[str, str], jobs: int) -> tuple[float, float]:
    """(round trips per job from MONITOR, evalsha calls per job from INFO commandstats) over ``jobs`` accepts
    made one after another (the key's tenant already cached)."""
    with httpx.Client(headers=headers, timeout=30) as http:
        http.post(f"{url}/v1/jobs", json=BODY).raise_for_status()

        def accept_all() -> None:
            for _ in range(jobs):
                http.post(f"{url}/v1/jobs", json=BODY).raise_for_status()

        counted, evalsha = commands_and_scripts(client, accept_all)
    return counted / jobs, evalsha / jobs


def _prefer_delays(url: str, headers: dict[str, str], jobs: int) -> list[float]:
    delays = []
    with httpx.Client(headers={**headers, "Prefer": "wait=20"}, timeout=60) as http:
        for _ in range(jobs):
            answer = http.post(f"{url}/v1/jobs", json=BODY)
            received = time.time()
            body = answer.json()
            if answer.status_code != 200:
                raise RuntimeError(f"Prefer: wait gave up: {answer.status_code} {body}")
            completed = datetime.fromisoformat(body["completed_at"].replace("Z", "+00:00")).timestamp()
            delays.append(received - completed)
    return delays


def _median_spread(values: list[float], scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(values) * scale)} ({fmt.format(min(values) * scale)}-" + (
        f"{fmt.format(max(values) * scale)})"
    )


def run(workdir: Path, *, connections: int, seconds: float, rounds: int, prefer_jobs: int) -> str:
    processes: list[ManagedProcess] = []
    try:
        redis_proc, redis_url = start_redis(workdir, persist=False)
        processes.append(redis_proc)
        sim_proc, sim_url = start_simulator(workdir, {"KARLO_SIM_API_KEY": DEFAULT_SIM_KEY})
        processes.append(sim_proc)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        tenant = tenants.create_tenant(client, "bench")
        headers = {"Authorization": f"Bearer {tenants.issue_key(client, tenant).secret_key}"}
        big = 10**9
        env = local_stack_env(workdir, redis_url, sim_url, quota=big) | {
            "KARLOQ_TENANT_QUOTA_PER_DAY": str(big),  # a tenant share, so each accept checks it
        }
        api_proc, api_url = start_api(workdir, env)
        processes.append(api_proc)
        bare_proc, bare_url = _start_bare(workdir, redis_url)
        processes.append(bare_proc)
        api_request = loadgen.post_request(f"{api_url}/v1/jobs", BODY, headers)
        bare_request = loadgen.post_request(f"{bare_url}/v1/jobs", BODY, {})
        scopes = ["karlo", f"tenant:{tenant}"]

        api_rounds: list[Round] = []
        bare_rounds: list[Round] = []
        short_log: list[float] = []
        long_log: list[float] = []
        for case in (api_url, bare_url):  # warm-up: connections, caches, the script loaded
            request = api_request if case == api_url else bare_request
            loadgen.run(case, request, connections=connections, seconds=1)
        for _ in range(rounds):
            bare_rounds.append(
                _round(bare_url, bare_request, bare_proc.pid, redis_proc.pid, connections=connections, seconds=seconds)
            )
            api_rounds.append(
                _round(api_url, api_request, api_proc.pid, redis_proc.pid, connections=connections, seconds=seconds)
            )
            for entries, rates in ((1, short_log), (5000, long_log)):
                _fill_minute_logs(client, scopes, entries)
                rates.append(
                    _round(
                        api_url, api_request, api_proc.pid, redis_proc.pid, connections=connections, seconds=seconds
                    ).rate
                )
        trips, evalsha = _round_trips(client, api_url, headers, 200)

        processes.append(start_worker(workdir, {**env, "KARLOQ_WORKER_QUEUES": "jobs"}))
        client.delete("jobs")  # the accepted backlog: the worker runs only the jobs of the Prefer rounds
        client.delete(keys.job_deadlines())
        delays = _prefer_delays(api_url, headers, prefer_jobs)

        rate_ratio = [a.rate / b.rate for a, b in zip(api_rounds, bare_rounds, strict=True)]
        p99_ratio = [a.p99 / b.p99 for a, b in zip(api_rounds, bare_rounds, strict=True)]
        cpu_ratio = [a.cpu_per_request / b.cpu_per_request for a, b in zip(api_rounds, bare_rounds, strict=True)]
        redis_ratio = [
            a.redis_cpu_per_request / b.redis_cpu_per_request for a, b in zip(api_rounds, bare_rounds, strict=True)
        ]
        log_ratio = [long / short for long, short in zip(long_log, short_log, strict=True)]
        ms = 1000.0
        lines = [
            f"{connections} connections, {seconds:g} s per case per round, {rounds} rounds; median (range of rounds)",
            "",
            "| figure | API | bare FastAPI + LPUSH | API / bare |",
            "|---|---:|---:|---:|",
            f"| accepts per second | {_median_spread([r.rate for r in api_rounds], fmt='{:,.0f}')} "
            f"| {_median_spread([r.rate for r in bare_rounds], fmt='{:,.0f}')} | {_median_spread(rate_ratio)} |",
            f"| p50 latency, ms | {_median_spread([r.p50 for r in api_rounds], ms, '{:.1f}')} "
            f"| {_median_spread([r.p50 for r in bare_rounds], ms, '{:.1f}')} "
            f"| {_median_spread([a.p50 / b.p50 for a, b in zip(api_rounds, bare_rounds, strict=True)])} |",
            f"| p99 latency, ms | {_median_spread([r.p99 for r in api_rounds], ms, '{:.1f}')} "
            f"| {_median_spread([r.p99 for r in bare_rounds], ms, '{:.1f}')} | {_median_spread(p99_ratio)} |",
            f"| server CPU per request, ms | {_median_spread([r.cpu_per_request for r in api_rounds], ms)} "
            f"| {_median_spread([r.cpu_per_request for r in bare_rounds], ms)} | {_median_spread(cpu_ratio)} |",
            f"| Redis server CPU per request, ms | {_median_spread([r.redis_cpu_per_request for r in api_rounds], ms)} "
            f"| {_median_spread([r.redis_cpu_per_request for r in bare_rounds], ms)} "
            f"| {_median_spread(redis_ratio)} |",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| Redis round trips per accepted job (MONITOR, key's tenant cached) | {trips:.2f} |",
            f"| `evalsha` calls per accepted job (INFO commandstats) | {evalsha:.2f} |",
            f"| accepts per second, minute log of 1 entry | {_median_spread(short_log, fmt='{:,.0f}')} |",
            f"| accepts per second, minute log of 5,000 entries | {_median_spread(long_log, fmt='{:,.0f}')} |",
            f"| 5,000 entries / 1 entry | {_median_spread(log_ratio)} |",
            f"| `Prefer: wait` answer after `completed_at`, ms (median of {prefer_jobs}) "
            f"| {_median_spread(delays, ms, '{:.1f}')} |",
        ]
        return "\n".join(lines)
    finally:
        for proc in reversed(processes):
            proc.stop()
