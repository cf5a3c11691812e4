"""Private networks for webhook receivers are granted per tenant by the operator, checked on every delivery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from karlo_api.admin import run
from karlo_core.settings import Settings
from karlo_devstack.processes import wait_until
from support.api import submit, wait_until_terminal
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env
from support.webhooks import deliveries, rotate_secret, verified, wait_for_deliveries

# Plain http is allowed so the local receiver can be used; no network is allowed globally.
ENV = {
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
    "KARLOQ_WEBHOOK_RETRY_SCHEDULE": "30s",
}


@pytest.fixture(scope="module")
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir)).start()
    yield started
    started.stop()


@pytest.fixture
def stack(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "webhook-networks", base_env(services, "local", **ENV))
    app_stack.start(workers=0)
    yield app_stack
    app_stack.stop()


def admin(stack: AppStack, *argv: str) -> None:
    with stack.redis() as client:
        assert run(client, list(argv), Settings(redis_url=stack.redis_url, **ENV)) == 0  # type: ignore[arg-type]


def test_only_the_tenant_granted_a_network_may_send_webhooks_into_it(stack: AppStack, receiver: Receiver) -> None:
    trusted, other = stack.new_tenant("trusted"), stack.new_tenant("other")
    secret = rotate_secret(trusted)
    rotate_secret(other)
    admin(stack, "set-webhook-networks", trusted.tenant_id, "127.0.0.0/8")
    hook = receiver.hook("/vpc")
    body = {"input": {"prompt": "a harbour"}, "webhook": {"url": hook, "events": ["job.succeeded"]}}

    refused = submit(other, body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "webhook.url"
    put = httpx.put(f"{stack.api_url}/v1/webhooks/default", json={"url": hook}, headers=other.headers, timeout=10)
    assert put.status_code == 422, put.text
    put = httpx.put(f"{stack.api_url}/v1/webhooks/default", json={"url": hook}, headers=trusted.headers, timeout=10)
    assert put.status_code == 200, put.text

    accepted = submit(trusted, body)
    assert accepted.status_code == 202, accepted.text
    stack.add_worker()
    job = wait_until_terminal(trusted, accepted.json()["id"])
    wait_for_deliveries(trusted, job["id"], count=1, statuses={"delivered"})
    assert len(verified(receiver, secret, "/vpc")) == 1


def test_a_network_withdrawn_after_acceptance_is_refused_at_delivery(stack: AppStack, receiver: Receiver) -> None:
    tenant = stack.new_tenant("withdrawn")
    rotate_secret(tenant)
    admin(stack, "set-webhook-networks", tenant.tenant_id, "127.0.0.0/8")
    body = {"input": {"prompt": "a pier"}, "webhook": {"url": receiver.hook("/gone-vpc"), "events": ["job.succeeded"]}}
    accepted = submit(tenant, body)
    assert accepted.status_code == 202, accepted.text
    admin(stack, "set-webhook-networks", tenant.tenant_id, "--default")
    stack.add_worker()
    job = wait_until_terminal(tenant, accepted.json()["id"])
    wait_until(lambda: any(d["attempts"] for d in deliveries(tenant, job["id"])), timeout=30, what="an attempt")
    (delivery,) = deliveries(tenant, job["id"])
    assert delivery["attempts"][0]["outcome"] == "blocked", delivery
    assert receiver.received("/gone-vpc") == []
