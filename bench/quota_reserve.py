"""The quota reservation script against a bare Redis INCR, on one private redis-server, same connection."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import redis

from karlo_core.quota.buckets import QuotaBuckets, QuotaLimits, Scope
from karlo_devstack.services import start_redis

UNLIMITED = QuotaLimits(per_minute=10**12, per_day=10**12, per_month=10**12)


def _rate(operation: Callable[[int], object], count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        operation(i)
    return count / (time.perf_counter() - start)


def run(workdir: Path, *, operations: int, rounds: int) -> str:
    proc, url = start_redis(workdir, persist=False)
    try:
        client = redis.Redis.from_url(url, decode_responses=True)
        buckets = QuotaBuckets(client, tz=ZoneInfo("Asia/Seoul"), minute_seconds=61)
        one, two = [Scope("karlo", UNLIMITED)], [Scope("karlo", UNLIMITED), Scope("tenant:t", UNLIMITED)]
        cases: dict[str, Callable[[int], object]] = {
            "bare INCR (baseline)": lambda i: client.incr("bench:counter"),
            "reserve, 1 scope": lambda i: buckets.reserve(one, 1, f"one-{time.monotonic_ns()}-{i}"),
            "reserve, 2 scopes": lambda i: buckets.reserve(two, 1, f"two-{time.monotonic_ns()}-{i}"),
        }
        rates: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):  # alternate, so drift in machine load hits every case alike
            for name, operation in cases.items():
                client.flushdb()
                rates[name].append(_rate(operation, operations))
        baseline = rates["bare INCR (baseline)"]
        lines = ["| operation | per second (median) | relative to INCR (median of rounds) | spread of rounds |"]
        lines.append("|---|---:|---:|---:|")
        for name, values in rates.items():
            ratios = [value / base for value, base in zip(values, baseline, strict=True)]
            lines.append(
                f"| {name} | {statistics.median(values):,.0f} | {statistics.median(ratios):.2f} "
                f"| {min(ratios):.2f}-{max(ratios):.2f} |"
            )
        return "\n".join(lines)
    finally:
        proc.stop()
