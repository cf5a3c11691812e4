"""Querying a real Prometheus server through its HTTP API (``/api/v1/query``)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest


def require_prometheus() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (scripts/system-deps.sh installs Debian's prometheus)")


def query(prometheus_url: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's vector: ``[{"metric": {...}, "value": [time, "text"]}, ...]``."""
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    assert body["status"] == "success", body
    assert body["data"]["resultType"] == "vector", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def value(prometheus_url: str, promql: str) -> float | None:
    """The single value of a query that aggregates to one series, or None while it has none."""
    result = query(prometheus_url, promql)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def wait_for_value(prometheus_url: str, promql: str, accept: Callable[[float], bool], *, timeout: float = 30) -> float:
    """Poll until the query's value is accepted (scrapes and rule evaluations happen every second)."""
    deadline = time.monotonic() + timeout
    last: float | None = None
    while time.monotonic() < deadline:
        last = value(prometheus_url, promql)
        if last is not None and accept(last):
            return last
        time.sleep(0.25)
    raise AssertionError(f"{promql} stayed at {last} for {timeout}s")
