"""Quota over the real wire: many workers never exceed Karlo's window, use nearly all of it, and wait on -10."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from karlo_devstack.services import sim_control
from support.api import get_job, submit, wait_until_terminal
from support.stacks import AppStack, Services, base_env, sim_stats

WINDOW = 10.0
LIMIT = 10
BODY = {"input": {"prompt": "a quota test", "width": 384, "height": 384, "samples": 2}}


def calls_of(stats: dict[str, Any]) -> list[tuple[float, int]]:
    return [(entry["counted"], entry["images"]) for entry in stats["log"]]  # type: ignore[index]


def test_many_workers_never_exceed_the_window_and_use_almost_all_of_it(services: Services) -> None:
    env = base_env(
        services,
        "local",
        KARLOQ_QUOTA_PER_MINUTE=str(LIMIT),
        KARLOQ_QUOTA_MINUTE_WINDOW_SECONDS=str(WINDOW),
        KARLOQ_QUOTA_WINDOW_GUARD_SECONDS="0.25",  # a loaded machine delays calls
        KARLOQ_SWEEP_INTERVAL_SECONDS="0.05",
        KARLOQ_WORKER_CONCURRENCY="4",
    )
    stack = AppStack(Path(services.workdir) / "quota-hammer", env).start(workers=4)  # 4 processes x 4 threads
    try:
        sim_control(services.sim_url, quota={"per_window": LIMIT, "window_seconds": WINDOW})
        ids = [submit(stack, BODY).json()["id"] for _ in range(25)]  # a backlog of 50 images
        jobs = [wait_until_terminal(stack, job_id, timeout=120) for job_id in ids]
        assert {job["status"] for job in jobs} == {"succeeded"}
        stats = sim_stats(services.sim_url)
        calls = calls_of(stats)
        assert stats["quota"]["refused"] == 0  # type: ignore[index]
        assert sum(n for _, n in calls) == 50
        for start, _ in calls:  # every window-long span that begins at a call
            assert sum(n for t, n in calls if start <= t < start + WINDOW) <= LIMIT
        first, last = min(t for t, _ in calls), max(t for t, _ in calls)
        capacity = LIMIT * (last - first + WINDOW) / WINDOW
        assert 50 / capacity >= 0.95, f"used {50 / capacity:.1%} of the quota"
        assert {job["attempts"] for job in jobs} == {1}  # each waited in its queue for quota, then ran once
    finally:
        stack.stop()


def test_when_our_limits_are_too_high_minus_10_makes_jobs_wait_not_fail(services: Services) -> None:
    env = base_env(services, "local", KARLOQ_QUOTA_PER_MINUTE="100", KARLOQ_QUOTA_BLOCK_SECONDS="1")
    stack = AppStack(Path(services.workdir) / "quota-too-high", env).start(workers=1)
    try:
        sim_control(services.sim_url, quota={"per_window": 4, "window_seconds": 3})
        ids = [submit(stack, BODY).json()["id"] for _ in range(6)]
        seen_waiting: set[str] = set()
        for job_id in ids:
            job = get_job(stack, job_id)
            if job["status"] == "waiting_for_quota":
                seen_waiting.add(job_id)
                assert job["estimated_start_at"] is not None
        jobs = [wait_until_terminal(stack, job_id, timeout=90) for job_id in ids]
        assert {job["status"] for job in jobs} == {"succeeded"}
        assert sim_stats(services.sim_url)["quota"]["refused"] > 0  # type: ignore[index]
        assert sum(job["attempts"] for job in jobs) > len(jobs)
    finally:
        stack.stop()


def test_quota_is_shown_and_a_spent_tenant_share_is_refused_with_429(services: Services) -> None:
    env = base_env(services, "local", KARLOQ_QUOTA_PER_MINUTE="30", KARLOQ_TENANT_QUOTA_PER_DAY="3")
    stack = AppStack(Path(services.workdir) / "quota-tenant", env).start(workers=1)
    try:
        accepted = submit(stack, BODY)
        assert accepted.status_code == 202
        # per window, the tighter scope: the upstream minute and month, the tenant's day share
        policy = '"minute";q=30;w=60, "day";q=3;w=86400, "month";q=600000;w=2592000'
        assert accepted.headers["ratelimit-policy"] == policy
        wait_until_terminal(stack, accepted.json()["id"])

        quota = httpx.get(f"{stack.api_url}/v1/quota", headers=stack.headers, timeout=10)
        windows = {s["scope"]: {w["window"]: w for w in s["windows"]} for s in quota.json()["scopes"]}
        assert (windows["karlo"]["minute"]["limit"], windows["karlo"]["minute"]["used"]) == (30, 2)
        assert (windows["tenant"]["day"]["used"], windows["tenant"]["day"]["remaining"]) == (2, 1)
        assert '"day";r=1;t=' in quota.headers["ratelimit"]

        refused = submit(stack, BODY)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert (problem["type"], problem["violated-policies"]) == ("/problems/quota-exceeded", ["day"])
        assert 0 < int(refused.headers["retry-after"]) <= 86400
        assert len(list(stack.redis().scan_iter("karloq:job:*"))) == 1  # the refused job was not stored
    finally:
        stack.stop()


def test_rate_limit_fields_show_the_tightest_window_of_both_scopes(services: Services) -> None:
    """A tenant's share of 8 a day means little when the shared day has 2 left: the fields say 2."""
    env = base_env(services, "local", KARLOQ_QUOTA_PER_DAY="4", KARLOQ_TENANT_QUOTA_PER_DAY="8")
    stack = AppStack(Path(services.workdir) / "quota-tightest", env).start(workers=1)
    try:
        other = stack.new_tenant("other")
        assert wait_until_terminal(other, submit(other, BODY).json()["id"])["status"] == "succeeded"

        quota = httpx.get(f"{stack.api_url}/v1/quota", headers=stack.headers, timeout=10)
        assert quota.status_code == 200
        scopes = {s["scope"]: {w["window"]: w for w in s["windows"]} for s in quota.json()["scopes"]}
        assert sorted(scopes["karlo"]) == ["day", "minute", "month"]
        assert sorted(scopes["tenant"]) == ["day"]  # no limit in the tenant's minute or month: not shown
        assert (scopes["karlo"]["day"]["remaining"], scopes["tenant"]["day"]["remaining"]) == (2, 8)
        assert "1000000000000" not in quota.text
        assert '"day";q=4;w=86400' in quota.headers["ratelimit-policy"]
        assert '"day";r=2;t=' in quota.headers["ratelimit"]

        accepted = submit(stack, {"input": {"prompt": "one more", "width": 384, "height": 384}})
        assert accepted.status_code == 202
        assert '"day";r=2;t=' in accepted.headers["ratelimit"]
        assert "1000000000000" not in accepted.headers["ratelimit-policy"]
    finally:
        stack.stop()
