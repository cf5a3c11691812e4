"""The job API a backend builds on: idempotent creation, listing, cancel, ``Prefer: wait`` and the job cap."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from karlo_core import idempotency
from karlo_devstack.services import sim_control
from support.api import Caller, get_job, submit, wait_for_status, wait_until_terminal
from support.stacks import AppStack, Services, base_env, sim_stats

BODY = {"input": {"prompt": "a lighthouse", "width": 384, "height": 384}}


def _body(prompt: str) -> dict[str, Any]:
    return {"input": {"prompt": prompt, "width": 384, "height": 384}}


@pytest.fixture(scope="module")
def idle(services: Services) -> Iterator[AppStack]:
    """No workers: every accepted job stays queued."""
    env = base_env(services, "local", KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT="3", KARLOQ_REQUEST_TIMEOUT_SECONDS="1")
    app_stack = AppStack(Path(services.workdir) / "job-api-idle", env).start(workers=0)
    yield app_stack
    app_stack.stop()


@pytest.fixture(scope="module")
def busy(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "job-api-busy", base_env(services, "local")).start(workers=1)
    yield app_stack
    app_stack.stop()


def _list(caller: Caller, **params: Any) -> httpx.Response:
    return httpx.get(f"{caller.api_url}/v1/jobs", params=params, headers=caller.headers, timeout=10)


def _cancel(caller: Caller, job_id: str) -> httpx.Response:
    return httpx.post(f"{caller.api_url}/v1/jobs/{job_id}/cancel", headers=caller.headers, timeout=10)


def _cancel_all_queued(stack: AppStack) -> None:
    for job in _list(stack, status="queued", limit=100).json()["data"]:
        _cancel(stack, job["id"])


# --- Idempotency-Key ---------------------------------------------------------------------------------


def test_a_repeated_key_and_body_replays_the_first_answer(idle: AppStack) -> None:
    queued_before = idle.redis().llen("jobs")
    first = submit(idle, BODY, headers={"Idempotency-Key": "order-1"})
    again = submit(idle, BODY, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert idle.redis().llen("jobs") == queued_before + 1  # one job, one message
    _cancel_all_queued(idle)


def test_a_repeated_key_with_another_body_is_refused(idle: AppStack) -> None:
    assert submit(idle, BODY, headers={"Idempotency-Key": "order-2"}).status_code == 202
    reused = submit(idle, _body("something else"), headers={"Idempotency-Key": "order-2"})
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"] == "/problems/idempotency-key-reused"
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"
    _cancel_all_queued(idle)


def test_a_key_still_in_flight_is_a_conflict(idle: AppStack) -> None:
    with idle.redis() as client:  # as if another request with this key were being processed right now
        claimed = idempotency.claim(client, idle.tenant.tenant_id, "order-3", BODY, lease_seconds=60)
        assert isinstance(claimed, idempotency.Claimed)
    conflict = submit(idle, BODY, headers={"Idempotency-Key": "order-3"})
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "/problems/idempotency-key-in-flight"


def test_a_refused_request_frees_its_key_and_keys_are_per_tenant(idle: AppStack) -> None:
    refused = submit(idle, {"input": {"prompt": "bad", "width": 333}}, headers={"Idempotency-Key": "order-4"})
    assert refused.status_code == 422
    accepted = submit(idle, BODY, headers={"Idempotency-Key": "order-4"})
    assert accepted.status_code == 202
    other = idle.new_tenant("other")
    theirs = submit(other, _body("theirs"), headers={"Idempotency-Key": "order-4"})
    assert theirs.status_code == 202
    assert theirs.json()["id"] != accepted.json()["id"]
    _cancel_all_queued(idle)
    _cancel_all_queued_of(other)


def _cancel_all_queued_of(caller: Caller) -> None:
    for job in _list(caller, status="queued", limit=100).json()["data"]:
        _cancel(caller, job["id"])


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"has space", "ключ".encode()])
def test_malformed_idempotency_keys_are_refused(idle: AppStack, key: bytes) -> None:
    queued_before = idle.redis().llen("jobs")
    response = submit(idle, BODY, headers={"Idempotency-Key": key})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert idle.redis().llen("jobs") == queued_before


# --- Listing and cancel --------------------------------------------------------------------------------


def test_listing_pages_newest_first_and_filters(idle: AppStack) -> None:
    tenant = idle.new_tenant("lister")
    ids = []
    for index in range(3):
        ids.append(submit(tenant, _body(f"job {index}")).json()["id"])
    assert _cancel(tenant, ids[1]).status_code == 200

    first = _list(tenant, limit=2).json()
    assert [j["id"] for j in first["data"]] == [ids[2], ids[1]]
    second = _list(tenant, limit=2, cursor=first["next_cursor"]).json()
    assert [j["id"] for j in second["data"]] == [ids[0]]
    assert second["next_cursor"] is None

    assert [j["id"] for j in _list(tenant, status="canceled").json()["data"]] == [ids[1]]
    assert [j["id"] for j in _list(tenant, status=["queued", "canceled"], kind="generate").json()["data"]] == [
        ids[2],
        ids[1],
        ids[0],
    ]
    assert _list(tenant, kind="variation").json() == {"data": [], "next_cursor": None}
    assert _list(idle.new_tenant("nobody")).json() == {"data": [], "next_cursor": None}
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "nope"}, {"status": "lost"}, {"kind": "paint"}):
        response = _list(tenant, **bad)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
    _cancel_all_queued_of(tenant)


def test_canceling_a_queued_job_is_immediate_and_repeatable(idle: AppStack) -> None:
    job_id = submit(idle, BODY).json()["id"]
    canceled = _cancel(idle, job_id)
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["completed_at"] is not None
    assert _cancel(idle, job_id).status_code == 200
    assert get_job(idle, job_id)["status"] == "canceled"


def test_a_finished_job_cannot_be_canceled(busy: AppStack) -> None:
    job = wait_until_terminal(busy, submit(busy, BODY).json()["id"])
    refused = _cancel(busy, job["id"])
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/job-finished"
    assert get_job(busy, job["id"])["status"] == "succeeded"


def test_a_running_job_ends_canceled_when_karlo_answers_and_keeps_its_quota(busy: AppStack, services: Services) -> None:
    sim_control(services.sim_url, latency_ms=1500)
    job_id = submit(busy, {"input": {**BODY["input"], "samples": 2}}).json()["id"]
    wait_for_status(busy, job_id, {"running"}, timeout=30)
    requested = _cancel(busy, job_id)
    assert requested.status_code == 202
    assert requested.json()["cancel_requested"] is True
    job = wait_until_terminal(busy, job_id, timeout=30)
    assert job["status"] == "canceled"
    assert job["output"] is None
    assert sim_stats(services.sim_url)["calls"] == {"t2i": 1}
    windows = httpx.get(f"{busy.api_url}/v1/quota", headers=busy.headers, timeout=10).json()["scopes"][0]["windows"]
    assert {w["window"]: w["used"] for w in windows}["day"] == 2  # Karlo made the images: no refund


# --- Prefer: wait ---------------------------------------------------------------------------------------


def test_prefer_wait_answers_with_the_finished_job(busy: AppStack) -> None:
    response = submit(busy, BODY, headers={"Prefer": "wait=20"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert response.json()["output"]["images"]
    assert response.headers["Preference-Applied"] == "wait=20"


def test_prefer_wait_gives_up_with_the_usual_202(busy: AppStack, services: Services) -> None:
    sim_control(services.sim_url, latency_ms=3000)
    response = submit(busy, BODY, headers={"Prefer": "wait=1"})
    assert response.status_code == 202
    assert response.json()["status"] in ("queued", "running")
    assert response.headers["Preference-Applied"] == "wait=1"
    wait_until_terminal(busy, response.json()["id"], timeout=30)


def test_a_replay_that_carries_prefer_wait_waits_too(busy: AppStack) -> None:
    """A repeat with ``Prefer: wait`` gets the finished job (200), one without a 202 with the job as it is now."""
    headers = {"Idempotency-Key": "replay-and-wait", "Prefer": "wait=20"}
    first = submit(busy, BODY, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "succeeded"
    waited = submit(busy, BODY, headers=headers)
    assert (waited.status_code, waited.json()["status"]) == (200, "succeeded")
    assert waited.headers["Idempotent-Replayed"] == "true"
    assert waited.json()["id"] == first.json()["id"]
    kept = submit(busy, BODY, headers={"Idempotency-Key": "replay-and-wait"})
    assert (kept.status_code, kept.json()["status"]) == (202, "succeeded")
    assert kept.headers["Idempotent-Replayed"] == "true"


def test_prefer_wait_is_capped(busy: AppStack) -> None:
    response = submit(busy, BODY, headers={"Prefer": "wait=3600"})
    assert response.headers["Preference-Applied"] == "wait=60"


# --- Concurrent-job cap ---------------------------------------------------------------------------------


def test_a_tenant_at_its_cap_gets_429_and_others_do_not(idle: AppStack) -> None:
    capped = idle.new_tenant("capped")
    ids = [submit(capped, _body(f"cap {i}")).json()["id"] for i in range(3)]
    refused = submit(capped, BODY)
    assert refused.status_code == 429
    assert refused.json()["type"] == "/problems/too-many-active-jobs"
    assert "Retry-After" in refused.headers
    assert submit(idle.new_tenant("uncapped"), BODY).status_code == 202
    _cancel(capped, ids[0])
    assert submit(capped, BODY).status_code == 202


# --- Request timeout ------------------------------------------------------------------------------------


def test_a_request_that_takes_too_long_gets_a_503_and_leaves_nothing(idle: AppStack) -> None:
    host, port = idle.api_url.removeprefix("http://").split(":")
    body = json.dumps(BODY).encode()
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {idle.tenant.api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    queued_before = idle.redis().llen("jobs")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode() + body[:10])  # and the rest never comes
        answer = ""
        while "request-timeout" not in answer:  # the answer may come in more than one segment
            chunk = conn.recv(65536).decode()
            if not chunk:
                break
            answer += chunk
    assert answer.startswith("HTTP/1.1 503"), answer
    assert "/problems/request-timeout" in answer
    assert idle.redis().llen("jobs") == queued_before
    assert _list(idle, status="queued").json()["data"] == []
