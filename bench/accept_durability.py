"""Accept throughput (POST /v1/jobs answered 202) under each KARLOQ_ACCEPT_DURABILITY, against the default.

Real processes: a primary redis-server with an append-only file (``appendfsync everysec``, the default), one
replica of it, and one API process per durability mode, all on that primary; no worker, so only accepting
is measured. Each round sends the same number of jobs from a few concurrent clients to each case in turn,
so drift in machine load hits every case alike; the median round of each case is reported.

Cases: ``memory`` (the default: answer once the job is in Redis), ``replica`` (``WAIT 1``), the primary
switched to ``appendfsync always`` (a Redis-side setting, any version: every write fsynced before Redis
replies), and ``aof`` (``WAITAOF 1 0``) where the Redis has it (7.2+).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from karlo_core import tenants
from karlo_core.durability import WAITAOF_SINCE, redis_version
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_api, start_redis, start_replica

BASELINE = "memory (default; appendfsync everysec)"


@dataclass(frozen=True)
class Round:
    seconds: float
    latencies: list[float]


def _accept_round(url: str, headers: dict[str, str], *, jobs: int, clients: int) -> Round:
    """``jobs`` accepted from ``clients`` threads at once: the wall time and each request's latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = jobs // clients

    def client_loop() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(per_client):
                started = time.perf_counter()
                response = client.post("/v1/jobs", json={"input": {"prompt": "a benchmark"}})
                elapsed = time.perf_counter() - started
                if response.status_code != 202:
                    raise RuntimeError(f"not accepted: {response.status_code} {response.text}")
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Round(time.perf_counter() - started, latencies)


def run(workdir: Path, *, jobs: int, rounds: int, clients: int = 8) -> str:
    processes: list[ManagedProcess] = []
    try:
        primary, primary_url = start_redis(workdir, persist=True)
        processes.append(primary)
        processes.append(start_replica(workdir, primary_url)[0])
        control = redis.Redis.from_url(primary_url, decode_responses=True)
        version = str(control.info("server")["redis_version"])
        env = {
            "KARLOQ_REDIS_URL": primary_url,
            "KARLOQ_STORAGE_URL": f"file://{workdir / 'storage'}",
            "KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT": "0",
            "KARLOQ_LOG_LEVEL": "WARNING",
        }
        modes = ["memory", "replica"] + (["aof"] if redis_version(version) >= WAITAOF_SINCE else [])
        urls: dict[str, str] = {}
        for mode in modes:
            proc, urls[mode] = start_api(workdir, {**env, "KARLOQ_ACCEPT_DURABILITY": mode}, name=f"api-{mode}")
            processes.append(proc)
        key = tenants.issue_key(control, tenants.create_tenant(control, "bench")).secret_key
        headers = {"Authorization": f"Bearer {key}"}

        def with_fsync(policy: str, url: str) -> Callable[[], Round]:
            def measure() -> Round:
                control.config_set("appendfsync", policy)
                try:
                    return _accept_round(url, headers, jobs=jobs, clients=clients)
                finally:
                    control.config_set("appendfsync", "everysec")

            return measure

        cases: dict[str, Callable[[], Round]] = {
            BASELINE: with_fsync("everysec", urls["memory"]),
            "replica (WAIT 1)": with_fsync("everysec", urls["replica"]),
            "memory, Redis appendfsync always": with_fsync("always", urls["memory"]),
        }
        if "aof" in urls:
            cases["aof (WAITAOF 1 0)"] = with_fsync("everysec", urls["aof"])
        for measure in cases.values():
            measure()  # warm-up
        results: dict[str, list[Round]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, measure in cases.items():
                results[name].append(measure())
        control.close()
        return _table(results, jobs=jobs, version=version, has_aof="aof" in urls)
    finally:
        for proc in reversed(processes):
            proc.stop()


def _table(results: dict[str, list[Round]], *, jobs: int, version: str, has_aof: bool) -> str:
    baseline = jobs / statistics.median(r.seconds for r in results[BASELINE])
    lines = [
        "| case | accepts per second (median) | relative to default | median latency (ms) |",
        "|---|---:|---:|---:|",
    ]
    for name, rounds in results.items():
        rate = jobs / statistics.median(r.seconds for r in rounds)
        latency = statistics.median(x for r in rounds for x in r.latencies) * 1000
        lines.append(f"| {name} | {rate:,.1f} | {rate / baseline:.2f} | {latency:.1f} |")
    if not has_aof:
        lines.append(f"| aof (WAITAOF 1 0) | not available: Redis {version} has no WAITAOF (7.2+) | | |")
    return "\n".join(lines)
