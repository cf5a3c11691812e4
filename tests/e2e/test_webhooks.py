"""Webhooks over the real wire: API and worker processes, a receiver process, signatures checked with the
standardwebhooks library from PyPI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from karlo_devstack.processes import wait_until
from karlo_devstack.services import sim_control
from support.api import submit, wait_for_status, wait_until_terminal
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env
from support.webhooks import deliveries, rotate_secret, verified, wait_for_deliveries

INPUT = {"prompt": "a paper boat", "width": 384, "height": 384}
WEBHOOK_ENV = {
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_WEBHOOK_RETRY_SCHEDULE": "0.3s,0.5s,1s",
    "KARLOQ_WEBHOOK_RETRY_JITTER": "0.1",
    "KARLOQ_WEBHOOK_TIMEOUT_SECONDS": "1",
    "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.2",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir)).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "webhooks", base_env(services, "local", **WEBHOOK_ENV))
    app_stack.start(workers=1)
    yield app_stack
    app_stack.stop()


@pytest.fixture(scope="module")
def strict_stack(services: Services) -> Iterator[AppStack]:
    """An API with the default guard: receivers must be public https URLs."""
    app_stack = AppStack(Path(services.workdir) / "webhooks-strict", base_env(services, "local"))
    app_stack.start(workers=0)
    yield app_stack
    app_stack.stop()


def run_job(stack: AppStack, webhook: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"input": INPUT} | ({"webhook": webhook} if webhook else {})
    response = submit(stack, body)
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def test_a_job_sends_started_and_succeeded_signed_with_its_result(stack: AppStack, receiver: Receiver) -> None:
    secret = rotate_secret(stack)
    job = run_job(stack, {"url": receiver.hook("/journey")})
    found = wait_for_deliveries(stack, job["id"], count=2, statuses={"delivered"})
    assert [d["event"] for d in found] == ["job.started", "job.succeeded"]
    assert [d["attempts"][0]["status_code"] for d in found] == [200, 200]

    got = verified(receiver, secret, "/journey")
    by_event = {headers["karloq-event"]: (headers, body) for headers, body in got}
    assert set(by_event) == {"job.started", "job.succeeded"}
    assert by_event["job.started"][1]["status"] == "running"
    # deliveries run concurrently, so they may arrive in either order; each carries its delivery's id
    assert {event: h["webhook-id"] for event, (h, _) in by_event.items()} == {d["event"]: d["id"] for d in found}
    body = by_event["job.succeeded"][1]
    assert {k: v for k, v in body.items() if k != "output"} == {k: v for k, v in job.items() if k != "output"}
    image = body["output"]["images"][0]
    assert "data" not in image and image["key"] == job["output"]["images"][0]["key"]
    download = httpx.get(image["url"], timeout=10)
    assert download.status_code == 200 and len(download.content) == image["bytes"]
    for log in (stack.workdir / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        assert secret not in text and secret.removeprefix("whsec_") not in text, f"the secret leaked into {log}"


def test_the_event_filter_sends_only_the_events_asked_for(stack: AppStack, receiver: Receiver) -> None:
    secret = rotate_secret(stack)
    job = run_job(stack, {"url": receiver.hook("/filtered"), "events": ["job.succeeded"]})
    assert job["webhook"] == {"url": receiver.hook("/filtered"), "events": ["job.succeeded"]}
    found = wait_for_deliveries(stack, job["id"], count=1, statuses={"delivered"})
    assert found[0]["event"] == "job.succeeded"
    assert [h["karloq-event"] for h, _ in verified(receiver, secret, "/filtered")] == ["job.succeeded"]


def test_the_tenant_default_url_serves_jobs_that_name_none(stack: AppStack, receiver: Receiver) -> None:
    tenant = stack.new_tenant("defaults")
    no_secret = submit(tenant, {"input": INPUT, "webhook": {"url": receiver.hook("/default")}})
    assert no_secret.status_code == 409 and no_secret.json()["type"] == "/problems/webhook-secret-missing"
    url = f"{stack.api_url}/v1/webhooks/default"
    refused = httpx.put(url, json={"url": receiver.hook("/default")}, headers=tenant.headers, timeout=10)
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/webhook-secret-missing"
    secret = rotate_secret(tenant)
    response = httpx.put(url, json={"url": receiver.hook("/default")}, headers=tenant.headers, timeout=10)
    assert response.status_code == 200 and response.json()["default_url"] == receiver.hook("/default")
    accepted = submit(tenant, {"input": INPUT}).json()
    wait_until_terminal(tenant, accepted["id"])
    wait_for_deliveries(tenant, accepted["id"], count=2, statuses={"delivered"})
    assert len(verified(receiver, secret, "/default")) == 2


def test_signing_secrets_are_shown_only_when_rotated(stack: AppStack) -> None:
    tenant = stack.new_tenant("secrets")
    info = httpx.get(f"{stack.api_url}/v1/webhooks/secret", headers=tenant.headers, timeout=10).json()
    assert info == {"exists": False, "created_at": None, "previous_valid_until": None}
    secret = rotate_secret(tenant)
    for path in ("/v1/webhooks/secret", "/v1/webhooks"):
        shown = httpx.get(f"{stack.api_url}{path}", headers=tenant.headers, timeout=10)
        assert shown.status_code == 200 and "whsec_" not in shown.text and secret not in shown.text


def test_during_rotation_both_secrets_sign_and_either_verifies(stack: AppStack, receiver: Receiver) -> None:
    tenant = stack.new_tenant("rotation")
    old = rotate_secret(tenant)
    new = rotate_secret(tenant)
    response = submit(tenant, {"input": INPUT, "webhook": {"url": receiver.hook("/rotation")}})
    job_id = response.json()["id"]
    wait_for_deliveries(tenant, job_id, count=2, statuses={"delivered"})
    for secret in (old, new):
        got = verified(receiver, secret, "/rotation")
        assert len(got) == 2
        assert all(len(headers["webhook-signature"].split(" ")) == 2 for headers, _ in got)


@pytest.mark.parametrize(
    ("webhook", "field", "rule"),
    [
        ({"url": "not a url"}, "webhook.url", "webhook_url"),
        ({"url": "http://example.com/hook"}, "webhook.url", "webhook_url"),
        ({"url": "https://127.0.0.1/hook"}, "webhook.url", "webhook_url"),
        ({"url": "https://10.0.0.1/hook"}, "webhook.url", "webhook_url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "webhook.url", "webhook_url"),
        ({"url": "https://localhost/hook"}, "webhook.url", "webhook_url"),
        ({"url": "https://example.com/hook", "events": ["job.exploded"]}, "webhook.events[0]", "literal_error"),
        ({"url": "https://example.com/hook", "events": []}, "webhook.events", "too_short"),
        ({"url": "https://example.com/hook", "secret": "x"}, "webhook.secret", "extra_forbidden"),
    ],
)
def test_bad_webhook_options_are_refused_at_the_edge(
    strict_stack: AppStack, webhook: dict[str, Any], field: str, rule: str
) -> None:
    response = submit(strict_stack, {"input": INPUT, "webhook": webhook})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["rule"]) for e in response.json()["errors"]} == {(field, rule)}


def test_a_private_default_url_is_refused_at_the_edge(strict_stack: AppStack) -> None:
    rotate_secret(strict_stack)
    for url in ("https://127.0.0.1/hook", "https://10.0.0.1/hook", "https://169.254.169.254/", "https://localhost/"):
        response = httpx.put(
            f"{strict_stack.api_url}/v1/webhooks/default", json={"url": url}, headers=strict_stack.headers, timeout=10
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "url"


def test_a_hanging_receiver_times_out_and_the_delivery_is_retried(stack: AppStack, receiver: Receiver) -> None:
    secret = rotate_secret(stack)
    receiver.script("/hang", hang=5)
    response = submit(stack, {"input": INPUT, "webhook": {"url": receiver.hook("/hang"), "events": ["job.succeeded"]}})
    job_id = response.json()["id"]
    wait_until(lambda: len(receiver.received("/hang")) >= 1, timeout=30, what="the first attempt")
    receiver.script("/hang", status=200)
    [delivery] = wait_for_deliveries(stack, job_id, count=1, statuses={"delivered"})
    outcomes = [a["outcome"] for a in delivery["attempts"]]
    assert outcomes[0] == "timeout" and outcomes[-1] == "delivered", delivery
    assert delivery["attempts"][0]["latency_ms"] < 3000
    got = verified(receiver, secret, "/hang")
    assert len(got) == len(outcomes) and {h["webhook-id"] for h, _ in got} == {delivery["id"]}


def test_gone_disables_the_endpoint(stack: AppStack, receiver: Receiver) -> None:
    rotate_secret(stack)
    receiver.script("/gone", status=410)
    first = run_job(stack, {"url": receiver.hook("/gone"), "events": ["job.succeeded"]})
    [delivery] = wait_for_deliveries(stack, first["id"], count=1, statuses={"disabled"})
    assert delivery["attempts"][0]["status_code"] == 410
    settings = httpx.get(f"{stack.api_url}/v1/webhooks", headers=stack.headers, timeout=10).json()
    assert [e["url"] for e in settings["disabled_endpoints"]] == [receiver.hook("/gone")]

    second = run_job(stack, {"url": receiver.hook("/gone")})
    later = wait_for_deliveries(stack, second["id"], count=2, statuses={"disabled"})
    assert all(d["attempts"] == [] for d in later)
    assert len(receiver.received("/gone")) == 1, "nothing more was sent to the disabled endpoint"

    receiver.script("/gone", status=200)
    enable = httpx.delete(
        f"{stack.api_url}/v1/webhooks/disabled-endpoints",
        params={"url": receiver.hook("/gone")},
        headers=stack.headers,
        timeout=10,
    )
    assert enable.status_code == 204
    third = run_job(stack, {"url": receiver.hook("/gone"), "events": ["job.succeeded"]})
    wait_for_deliveries(stack, third["id"], count=1, statuses={"delivered"})


def test_multipart_jobs_take_the_webhook_as_a_json_part(stack: AppStack, receiver: Receiver) -> None:
    secret = rotate_secret(stack)
    webhook = json.dumps({"url": receiver.hook("/multipart"), "events": ["job.succeeded"]})
    response = httpx.post(
        f"{stack.api_url}/v1/jobs",
        files={"kind": (None, "generate"), "input": (None, json.dumps(INPUT)), "webhook": (None, webhook)},
        headers=stack.headers,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    wait_for_deliveries(stack, response.json()["id"], count=1, statuses={"delivered"})
    assert [h["karloq-event"] for h, _ in verified(receiver, secret, "/multipart")] == ["job.succeeded"]


def test_exhausted_deliveries_are_dead_letters_and_replay_keeps_their_ids(stack: AppStack, receiver: Receiver) -> None:
    secret = rotate_secret(stack)
    receiver.script("/dead", status=500)
    job = run_job(stack, {"url": receiver.hook("/dead"), "events": ["job.succeeded"]})
    [dead] = wait_for_deliveries(stack, job["id"], count=1, statuses={"dead"})
    assert [a["status_code"] for a in dead["attempts"]] == [500] * 4, "the first try and three retries"
    letters = httpx.get(f"{stack.api_url}/v1/webhooks/dead-letters", headers=stack.headers, timeout=10).json()
    assert [d["id"] for d in letters["deliveries"]] == [dead["id"]]

    receiver.script("/dead", status=200)
    replay = httpx.post(f"{stack.api_url}/v1/webhooks/dead-letters/replay", headers=stack.headers, timeout=10)
    assert replay.json() == {"replayed": 1}
    [delivered] = wait_for_deliveries(stack, job["id"], count=1, statuses={"delivered"})
    assert delivered["id"] == dead["id"] and len(delivered["attempts"]) == 5

    url = f"{stack.api_url}/v1/jobs/{job['id']}/deliveries/{dead['id']}/retry"
    assert httpx.post(url, headers=stack.headers, timeout=10).status_code == 202
    wait_until(lambda: len(receiver.received("/dead")) == 6, timeout=15, what="the manual retry")
    [again] = wait_for_deliveries(stack, job["id"], count=1, statuses={"delivered"})
    assert len(again["attempts"]) == 6
    got = verified(receiver, secret, "/dead")
    assert {h["webhook-id"] for h, _ in got} == {dead["id"]}


def test_another_tenants_deliveries_are_not_found(stack: AppStack, receiver: Receiver) -> None:
    rotate_secret(stack)
    job = run_job(stack, {"url": receiver.hook("/private"), "events": ["job.succeeded"]})
    [delivery] = wait_for_deliveries(stack, job["id"], count=1, statuses={"delivered"})
    other = stack.new_tenant("other")
    listing = httpx.get(f"{stack.api_url}/v1/jobs/{job['id']}/deliveries", headers=other.headers, timeout=10)
    retry = httpx.post(
        f"{stack.api_url}/v1/jobs/{job['id']}/deliveries/{delivery['id']}/retry", headers=other.headers, timeout=10
    )
    replay = httpx.post(f"{stack.api_url}/v1/webhooks/dead-letters/replay", headers=other.headers, timeout=10)
    assert (listing.status_code, retry.status_code) == (404, 404)
    assert replay.json() == {"replayed": 0}
    assert deliveries(stack, job["id"])[0]["attempts"][0]["status_code"] == 200
    assert Webhook  # the library is what verifies, above


def test_canceling_a_running_job_sends_job_canceled(stack: AppStack, receiver: Receiver, services: Services) -> None:
    secret = rotate_secret(stack)
    sim_control(services.sim_url, latency_ms=1500)
    response = submit(stack, {"input": INPUT, "webhook": {"url": receiver.hook("/cancel")}})
    job_id = response.json()["id"]
    wait_for_status(stack, job_id, {"running"})
    cancel = httpx.post(f"{stack.api_url}/v1/jobs/{job_id}/cancel", headers=stack.headers, timeout=10)
    assert cancel.status_code < 300, cancel.text
    assert wait_until_terminal(stack, job_id)["status"] == "canceled"
    found = wait_for_deliveries(stack, job_id, count=2, statuses={"delivered"})
    assert [d["event"] for d in found] == ["job.started", "job.canceled"]
    bodies = {h["karloq-event"]: body for h, body in verified(receiver, secret, "/cancel")}
    assert bodies["job.canceled"]["status"] == "canceled"
