"""A tenant never sees or touches another tenant's jobs: every endpoint answers 404, as for an unknown id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.api import Tenant, get_job, submit, wait_until_terminal
from support.stacks import AppStack, Services, base_env

UNKNOWN_JOB = "01aaaaaaaaaaaaaaaaaaaaaaaa"

#: Every endpoint that takes a job id: (method, path template). A new one belongs here.
JOB_ENDPOINTS = [
    ("GET", "/v1/jobs/{job_id}"),
    ("POST", "/v1/jobs/{job_id}/cancel"),
    ("GET", "/v1/jobs/{job_id}/deliveries"),
    ("POST", "/v1/jobs/{job_id}/deliveries/msg_{job_id}_1/retry"),
]


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    env = base_env(
        services,
        "local",
        KARLOQ_TENANT_QUOTA_PER_DAY="100",
        KARLOQ_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8",
        KARLOQ_WEBHOOK_ALLOW_HTTP="true",
    )
    app_stack = AppStack(Path(services.workdir) / "isolation", env).start(workers=1)
    yield app_stack
    app_stack.stop()


@pytest.fixture
def owner_and_stranger(stack: AppStack) -> tuple[Tenant, Tenant, dict[str, Any]]:
    owner, stranger = stack.new_tenant("owner"), stack.new_tenant("stranger")
    body = {"input": {"prompt": "mine", "width": 384, "height": 384}, "webhook": {"url": "http://127.0.0.1:9/hook"}}
    assert _call(owner, "POST", "/v1/webhooks/secret/rotate").status_code == 201
    accepted = submit(owner, body)
    assert accepted.status_code == 202, accepted.text
    job = wait_until_terminal(owner, accepted.json()["id"])
    assert job["status"] == "succeeded"
    return owner, stranger, job


def _call(caller: Tenant, method: str, path: str) -> httpx.Response:
    return httpx.request(method, f"{caller.api_url}{path}", headers=caller.headers, timeout=10)


@pytest.mark.parametrize(("method", "template"), JOB_ENDPOINTS)
def test_another_tenants_job_is_not_found(
    owner_and_stranger: tuple[Tenant, Tenant, dict[str, Any]], method: str, template: str
) -> None:
    owner, stranger, job = owner_and_stranger
    theirs = _call(stranger, method, template.format(job_id=job["id"]))
    unknown = _call(stranger, method, template.format(job_id=UNKNOWN_JOB))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    assert theirs.json()["type"] == unknown.json()["type"]
    assert job["id"] not in theirs.text.replace(f"'{job['id']}'", "")  # nothing beyond the id asked about
    after = get_job(owner, job["id"])
    assert (after["status"], after["completed_at"]) == (job["status"], job["completed_at"])


def test_the_owner_sees_its_deliveries(owner_and_stranger: tuple[Tenant, Tenant, dict[str, Any]]) -> None:
    owner, _, job = owner_and_stranger
    deliveries = _call(owner, "GET", f"/v1/jobs/{job['id']}/deliveries").json()["deliveries"]
    assert f"msg_{job['id']}_1" in [d["id"] for d in deliveries]
    assert _call(owner, "POST", f"/v1/jobs/{job['id']}/deliveries/msg_{job['id']}_1/retry").status_code == 202


def test_dead_letters_are_the_callers_own(owner_and_stranger: tuple[Tenant, Tenant, dict[str, Any]]) -> None:
    _, stranger, _ = owner_and_stranger
    assert _call(stranger, "GET", "/v1/webhooks/dead-letters").json()["deliveries"] == []
    assert _call(stranger, "POST", "/v1/webhooks/dead-letters/replay").status_code == 200


def test_listing_shows_only_the_callers_jobs(owner_and_stranger: tuple[Tenant, Tenant, dict[str, Any]]) -> None:
    owner, stranger, job = owner_and_stranger
    assert [j["id"] for j in _call(owner, "GET", "/v1/jobs").json()["data"]] == [job["id"]]
    assert _call(stranger, "GET", "/v1/jobs").json()["data"] == []
    cursor_into_theirs = _call(stranger, "GET", f"/v1/jobs?cursor={job['id']}")
    assert cursor_into_theirs.json()["data"] == []


def _tenant_day_used(caller: Tenant) -> int:
    scopes = {s["scope"]: s for s in _call(caller, "GET", "/v1/quota").json()["scopes"]}
    return int({w["window"]: w["used"] for w in scopes["tenant"]["windows"]}["day"])


def test_quota_shows_the_callers_own_share(owner_and_stranger: tuple[Tenant, Tenant, dict[str, Any]]) -> None:
    owner, stranger, _ = owner_and_stranger
    assert _tenant_day_used(owner) == 1
    assert _tenant_day_used(stranger) == 0
