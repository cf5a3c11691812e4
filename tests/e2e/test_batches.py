"""Batches over the real wire: many jobs in one request, all or nothing, followed and canceled together."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from karlo_devstack.processes import wait_until
from karlo_devstack.services import sim_control
from support.events import Listener
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env, job_state_keys
from support.webhooks import rotate_secret, verified

INPUT = {"prompt": "a paper boat", "width": 384, "height": 384}
BATCH_ENV = {
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.2",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
    "KARLOQ_EVENT_HEARTBEAT_SECONDS": "0.5",
    "KARLOQ_QUOTA_PER_MINUTE": "100000",
    "KARLOQ_QUOTA_PER_DAY": "1000000",
    "KARLOQ_QUOTA_PER_MONTH": "10000000",
    "KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT": "5000",
    "KARLOQ_WORKER_CONCURRENCY": "16",
}


@pytest.fixture(scope="module")
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir), name="batches-receiver").start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "batches", base_env(services, "local", **BATCH_ENV))
    app_stack.start(workers=2)
    yield app_stack
    app_stack.stop()


def post_batch(stack: AppStack, body: Any, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    all_headers = {**stack.headers, **(headers or {})}
    return httpx.post(f"{stack.api_url}/v1/batches", json=body, headers=all_headers, timeout=120, **kwargs)


def get_batch(stack: AppStack, batch_id: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.api_url}/v1/batches/{batch_id}", headers=stack.headers, timeout=30)
    response.raise_for_status()
    batch: dict[str, Any] = response.json()
    return batch


def batch_jobs(stack: AppStack, batch_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"batch": batch_id, "limit": 100} | ({"cursor": cursor} if cursor else {})
        response = httpx.get(f"{stack.api_url}/v1/jobs", params=params, headers=stack.headers, timeout=30)
        response.raise_for_status()
        page = response.json()
        found += page["data"]
        cursor = page["next_cursor"]
        if not cursor or not page["data"]:
            return found


def wait_completed(stack: AppStack, batch_id: str, *, timeout: float = 300) -> dict[str, Any]:
    wait_until(
        lambda: get_batch(stack, batch_id)["status"] == "completed",
        timeout=timeout,
        interval=1,
        what=f"batch {batch_id} to complete",
    )
    return get_batch(stack, batch_id)


def test_a_thousand_jobs_in_one_request_all_finish_with_one_batch_completed(
    stack: AppStack, receiver: Receiver
) -> None:
    secret = rotate_secret(stack)
    listener = Listener(stack, params={"event": "batch.completed"}).start()
    body = {
        "jobs": [{"input": {**INPUT, "seed": [i]}} for i in range(1000)],
        "webhook": {"url": receiver.hook("/batch"), "events": ["job.succeeded"]},
    }
    response = post_batch(stack, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["total"] == 1000 and accepted["status"] == "in_progress"
    assert response.headers["Location"] == accepted["urls"]["get"]

    batch = wait_completed(stack, accepted["id"])
    assert batch["counts"]["succeeded"] == 1000 and batch["finished"] == 1000 and batch["progress"] == 1.0
    jobs = batch_jobs(stack, accepted["id"])
    assert len(jobs) == 1000 and {j["status"] for j in jobs} == {"succeeded"}
    assert {j["batch_id"] for j in jobs} == {accepted["id"]}

    completed = listener.wait_for(lambda events: len(events) >= 1, what="batch.completed")
    listener.stop()
    assert [(e.event, e.data["id"], e.data["counts"]["succeeded"]) for e in completed] == [
        ("batch.completed", accepted["id"], 1000)
    ]
    wait_until(lambda: len(receiver.received("/batch")) >= 1001, timeout=120, what="the batch's webhooks")
    hooks = [(h["karloq-event"], body) for h, body in verified(receiver, secret, "/batch")]
    finished = [body for event, body in hooks if event == "batch.completed"]
    assert len(finished) == 1 and finished[0] == completed[0].data
    assert len([1 for event, _ in hooks if event == "job.succeeded"]) == 1000


def test_bad_items_refuse_the_whole_batch_naming_each_and_nothing_is_stored(stack: AppStack) -> None:
    jobs: list[Any] = [{"input": INPUT} for _ in range(500)]
    jobs[7] = {"input": {**INPUT, "width": 5000}}
    jobs[123] = {"kind": "paint", "input": INPUT}
    jobs[499] = {"input": {"prompt": ""}}

    with stack.redis() as client:
        before = job_state_keys(client)
        response = post_batch(stack, {"jobs": jobs})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        errors = response.json()["errors"]
        assert sorted({e["index"] for e in errors}) == [7, 123, 499]
        assert {e["field"] for e in errors if e["index"] == 7} == {"jobs[7].input.width"}
        assert {e["field"] for e in errors if e["index"] == 123} == {"jobs[123].kind"}
        assert job_state_keys(client) == before


def test_json_lines_bodies_are_batches_too(stack: AppStack) -> None:
    lines = "\n".join(json.dumps({"input": {**INPUT, "seed": [i]}}) for i in range(3))
    headers = {**stack.headers, "Content-Type": "application/jsonl"}
    response = httpx.post(f"{stack.api_url}/v1/batches", content=lines, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    assert wait_completed(stack, response.json()["id"])["counts"]["succeeded"] == 3

    broken = httpx.post(f"{stack.api_url}/v1/batches", content='{"input": {}}\n{nope', headers=headers, timeout=30)
    assert broken.status_code == 422
    assert [e["index"] for e in broken.json()["errors"]] == [1]


def test_a_repeated_request_with_the_same_key_gets_the_same_batch(stack: AppStack) -> None:
    body = {"jobs": [{"input": INPUT} for _ in range(5)]}
    first = post_batch(stack, body, headers={"Idempotency-Key": "batch-once"})
    again = post_batch(stack, body, headers={"Idempotency-Key": "batch-once"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(batch_jobs(stack, first.json()["id"])) == 5
    other = post_batch(stack, {"jobs": body["jobs"][:4]}, headers={"Idempotency-Key": "batch-once"})
    assert other.status_code == 422


def test_cancel_mid_batch_ends_the_rest_canceled(stack: AppStack, services: Services) -> None:
    sim_control(services.sim_url, latency_ms=1000)
    response = post_batch(stack, {"jobs": [{"input": INPUT} for _ in range(60)]})
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    wait_until(lambda: get_batch(stack, batch_id)["counts"]["running"] > 0, timeout=30, what="some running")
    canceled = httpx.post(f"{stack.api_url}/v1/batches/{batch_id}/cancel", headers=stack.headers, timeout=30)
    assert canceled.status_code == 200, canceled.text
    sim_control(services.sim_url, latency_ms=0)
    batch = wait_completed(stack, batch_id, timeout=60)
    counts = batch["counts"]
    assert counts["canceled"] > 0 and counts["succeeded"] + counts["canceled"] + counts["failed"] == 60
    assert counts["queued"] == counts["running"] == counts["waiting_for_quota"] == 0
    statuses = {j["status"] for j in batch_jobs(stack, batch_id)}
    assert statuses <= {"succeeded", "canceled"}


def test_another_tenant_cannot_see_or_cancel_a_batch(stack: AppStack) -> None:
    response = post_batch(stack, {"jobs": [{"input": INPUT}]})
    batch_id = response.json()["id"]
    other = stack.new_tenant("batches-other")
    for method, path in (("GET", ""), ("POST", "/cancel")):
        answer = httpx.request(
            method, f"{stack.api_url}/v1/batches/{batch_id}{path}", headers=other.headers, timeout=10
        )
        assert answer.status_code == 404
    listed = httpx.get(f"{stack.api_url}/v1/jobs", params={"batch": batch_id}, headers=other.headers, timeout=10)
    assert listed.json()["data"] == []


def test_other_media_types_and_malformed_bodies_are_refused_naming_why(stack: AppStack) -> None:
    url = f"{stack.api_url}/v1/batches"
    text = httpx.post(url, content="{}", headers={**stack.headers, "Content-Type": "text/plain"}, timeout=10)
    assert text.status_code == 415 and text.headers["Accept-Post"] == "application/json, application/jsonl"
    deep = httpx.post(url, content="[" * 100_000, headers={**stack.headers, "Content-Type": "application/json"})
    assert deep.status_code == 422 and deep.json()["errors"][0]["field"] == "body"
    for body, field in (({"jobs": []}, "jobs"), ({"jobs": [{"input": INPUT}] * 1001}, "jobs"), ({"job": []}, "job")):
        answer = post_batch(stack, body)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field, answer.text
