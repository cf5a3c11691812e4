"""A low-priority job over the real wire, the quota the bottleneck (a short test window) and normal jobs
arriving faster than the quota lets them run: normal jobs pass it only while they were accepted within the
aging bound after it, so it starts though the stream never stops."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from support.api import get_job, submit
from support.stacks import Services, quota_bound_stack

WINDOW = 2.0
LIMIT = 4
AGING = 3.0
#: Redis stamps a job's queue order a moment after the API stamps its acceptance, on a loaded machine later.
SLACK = 1.0
ONE = {"input": {"prompt": "aging", "width": 384, "height": 384, "samples": 1}}


def _at(stamp: str | None) -> float | None:
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


def test_a_low_job_starts_within_the_aging_bound_while_normal_jobs_keep_arriving(services: Services) -> None:
    with quota_bound_stack(
        services,
        "scheduling-aging",
        limit=LIMIT,
        window=WINDOW,
        guard=0.25,
        concurrency=4,
        workers=1,
        KARLOQ_LOW_PRIORITY_AGING_SECONDS=str(AGING),
    ) as stack:
        for _ in range(2 * LIMIT):  # two windows of normal work ahead of it
            assert submit(stack, ONE).status_code == 202
        low = submit(stack, {**ONE, "priority": "low"}).json()
        assert low["priority"] == "low"
        low_accepted = _at(low["created_at"])
        assert low_accepted is not None
        deadline = time.monotonic() + 90
        arrived_after_start = 0
        while arrived_after_start < LIMIT:  # about twice what the quota lets run, until well after it started
            assert time.monotonic() < deadline, "the low job never started"
            assert submit(stack, ONE).status_code == 202
            time.sleep(WINDOW / LIMIT / 2)
            if get_job(stack, low["id"])["started_at"] is not None:
                arrived_after_start += 1
        started = _at(get_job(stack, low["id"])["started_at"])
        assert started is not None

        listed = httpx.get(f"{stack.api_url}/v1/jobs", params={"limit": 100}, headers=stack.headers, timeout=10)
        normal: list[dict[str, Any]] = [j for j in listed.json()["data"] if j["id"] != low["id"]]
        passed = [j for j in normal if (s := _at(j["started_at"])) is not None and s < started]
        accepted_after = [_at(j["created_at"]) or 0 for j in passed if (_at(j["created_at"]) or 0) > low_accepted]
        assert accepted_after, "no normal job accepted after the low one went before it: priority had no effect"
        assert max(accepted_after) - low_accepted <= AGING + SLACK, "a normal job past the aging bound went first"
        assert any((_at(j["created_at"]) or 0) > started for j in normal)  # the stream was still running
