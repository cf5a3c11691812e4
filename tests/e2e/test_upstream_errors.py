"""Each class of Karlo answer and what it does to a job: its final state and how many calls it took."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from karlo_devstack.services import sim_control
from support.api import submit, wait_until_terminal
from support.stacks import AppStack, Services, base_env, sim_stats

BODY = {"input": {"prompt": "a lantern", "width": 384, "height": 384}}
MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    env = base_env(
        services,
        "local",
        KARLOQ_JOB_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        KARLOQ_KARLO_READ_TIMEOUT_SECONDS="1",
        KARLOQ_QUOTA_BLOCK_SECONDS="1",
    )
    app_stack = AppStack(Path(services.workdir) / "upstream-errors", env).start(workers=1)
    yield app_stack
    app_stack.stop()


def fault(code: int | None, status: int, times: int = 1, **extra: Any) -> dict[str, Any]:
    return {"code": code, "http_status": status, "msg": f"injected {code}", "times": times, **extra}


# (name, scripted answers, final status, error code, Karlo's code, upstream calls)
CASES = [
    ("-2 bad parameter", [fault(-2, 400)], "failed", "upstream_rejected", -2, 1),
    ("-401 invalid key", [fault(-401, 401)], "failed", "upstream_auth", -401, 1),
    ("-3 feature not enabled", [fault(-3, 403)], "failed", "upstream_auth", -3, 1),
    ("-5 no permission", [fault(-5, 403)], "failed", "upstream_auth", -5, 1),
    ("unknown code", [fault(-12345, 400)], "failed", "upstream_rejected", -12345, 1),
    ("-10 quota exceeded waits, then runs", [fault(-10, 400)], "succeeded", None, None, 2),
    ("-7 maintenance is retried", [fault(-7, 400)], "succeeded", None, None, 2),
    ("-9798 service maintenance is retried", [fault(-9798, 503)], "succeeded", None, None, 2),
    ("-603 platform timeout is retried", [fault(-603, 400)], "succeeded", None, None, 2),
    ("bare 502 is retried", [fault(None, 502)], "succeeded", None, None, 2),
    ("read timeout is retried", [fault(None, 200, hang_ms=2500)], "succeeded", None, None, 2),
    ("two failures in a row are retried", [fault(-7, 400, times=2)], "succeeded", None, None, 3),
    ("retries are bounded", [fault(-7, 400, times=10)], "failed", "upstream_unavailable", -7, MAX_ATTEMPTS),
]


@pytest.mark.parametrize(("name", "faults", "status", "error", "code", "calls"), CASES, ids=[c[0] for c in CASES])
def test_upstream_answer(
    stack: AppStack,
    services: Services,
    name: str,
    faults: list[dict[str, Any]],
    status: str,
    error: str | None,
    code: int | None,
    calls: int,
) -> None:
    sim_control(services.sim_url, faults=faults)
    job = wait_until_terminal(stack, submit(stack, BODY).json()["id"], timeout=60)
    assert job["status"] == status, job
    assert job["attempts"] == calls
    if error is None:
        assert job["error"] is None and len(job["output"]["images"]) == 1
    else:
        assert (job["error"]["code"], job["error"]["upstream_code"]) == (error, code)
        assert job["error"]["message"]
    assert sim_stats(services.sim_url)["calls"] == {"t2i": calls}


def test_connection_refused_is_retried_then_fails(services: Services) -> None:
    env = base_env(services, "local", KARLOQ_JOB_MAX_ATTEMPTS="2", KARLOQ_KARLO_BASE_URL="http://127.0.0.1:9")
    app_stack = AppStack(Path(services.workdir) / "upstream-down", env).start(workers=1)
    try:
        job = wait_until_terminal(app_stack, submit(app_stack, BODY).json()["id"])
        assert (job["status"], job["attempts"]) == ("failed", 2)
        assert job["error"]["code"] == "upstream_unavailable"
        assert "connect" in job["error"]["message"]
    finally:
        app_stack.stop()


def minute_used(stack: AppStack) -> int:
    scopes = httpx.get(f"{stack.api_url}/v1/quota", headers=stack.headers, timeout=10).json()["scopes"]
    return int(scopes[0]["windows"][0]["used"])


def test_quota_is_refunded_only_when_karlo_certainly_generated_nothing(stack: AppStack, services: Services) -> None:
    sim_control(services.sim_url, faults=[fault(-2, 400)])
    wait_until_terminal(stack, submit(stack, BODY).json()["id"])
    assert minute_used(stack) == 0  # refused: refunded
    sim_control(services.sim_url, faults=[fault(None, 200, hang_ms=2500)])
    job = wait_until_terminal(stack, submit(stack, BODY).json()["id"])
    assert job["status"] == "succeeded"
    assert minute_used(stack) == 2  # the timed-out call may have generated: kept, plus the retry
    sim_control(services.sim_url, faults=[fault(-7, 500)])
    assert wait_until_terminal(stack, submit(stack, BODY).json()["id"])["status"] == "succeeded"
    assert minute_used(stack) == 4  # a transient -7 keeps its reservation too, as the README says
