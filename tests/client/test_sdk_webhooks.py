"""``karloq.webhooks.verify`` against the service's real deliveries, and the SDK's webhook calls."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from karlo_devstack.processes import wait_until
from karloq import Client, GenerateInput, WebhookOption, WebhookVerificationError
from karloq.webhooks import verify
from support.receiver import Receiver

SMALL = {"width": 384, "height": 384}


def _received(receiver: Receiver, path: str, count: int) -> list[dict[str, Any]]:
    wait_until(lambda: len(receiver.received(path)) >= count, timeout=30, what=f"{count} webhooks on {path}")
    return receiver.received(path)


def _succeeded(receiver: Receiver, path: str) -> dict[str, Any]:
    _received(receiver, path, 2)
    return next(r for r in receiver.received(path) if r["headers"]["karloq-event"] == "job.succeeded")


def test_verify_accepts_real_deliveries_as_typed_events(client: Client, receiver: Receiver) -> None:
    secret = client.webhooks.rotate_secret().secret
    job = client.jobs.create(GenerateInput(prompt="a kite", **SMALL), webhook=receiver.hook("/sdk-verify"), wait=30)
    records = _received(receiver, "/sdk-verify", 2)
    events = {e.type: e for e in (verify(r["body"].encode(), r["headers"], secret) for r in records)}
    assert set(events) == {"job.started", "job.succeeded"}
    assert events["job.succeeded"].job.id == job.id and events["job.succeeded"].job.images
    assert events["job.started"].job.status == "running"
    wait_until(lambda: all(d.status == "delivered" for d in client.jobs.deliveries(job)), timeout=10, what="delivered")
    assert {d.event: d.id for d in client.jobs.deliveries(job)} == {t: e.id for t, e in events.items()}


def test_verify_rejects_tampering_wrong_secrets_and_old_requests(client: Client, receiver: Receiver) -> None:
    secret = client.webhooks.rotate_secret().secret
    client.jobs.create(
        GenerateInput(prompt="a drum", **SMALL),
        webhook=WebhookOption(url=receiver.hook("/sdk-reject"), events=["job.succeeded"]),
        wait=30,
    )
    record = _received(receiver, "/sdk-reject", 1)[0]
    body, headers = record["body"].encode(), record["headers"]
    assert verify(body, headers, secret).type == "job.succeeded"

    tampered = json.dumps({**json.loads(body), "status": "failed"}).encode()
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(tampered, headers, secret)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(body, headers, client.webhooks.rotate_secret().secret[:-8] + "AAAAAAA=")
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify(body, headers, secret, now=time.time() + 3600)
    with pytest.raises(WebhookVerificationError, match="karloq-event"):
        verify(body, {**headers, "karloq-event": "job.failed"}, secret)
    with pytest.raises(WebhookVerificationError, match="missing webhook-signature"):
        verify(body, {k: v for k, v in headers.items() if k != "webhook-signature"}, secret)


def test_during_a_rotation_either_secret_verifies(client: Client, receiver: Receiver) -> None:
    old = client.webhooks.rotate_secret().secret
    rotated = client.webhooks.rotate_secret()
    assert rotated.previous_valid_until is not None
    client.jobs.create(GenerateInput(prompt="a bridge", **SMALL), webhook=receiver.hook("/sdk-rotate"), wait=30)
    record = _succeeded(receiver, "/sdk-rotate")
    body, headers = record["body"].encode(), record["headers"]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(body, headers, old).job.status == "succeeded"
    assert verify(body, headers, rotated.secret).job.status == "succeeded"
    assert verify(body, headers, ["whsec_" + "A" * 44, rotated.secret]).type == "job.succeeded"


def test_default_url_dead_letters_and_replay(client: Client, receiver: Receiver) -> None:
    assert client.webhooks.secret().exists is False
    client.webhooks.rotate_secret()
    assert client.webhooks.secret().exists is True
    settings = client.webhooks.set_default_url(receiver.hook("/sdk-dead"))
    assert settings.default_url == receiver.hook("/sdk-dead")
    receiver.script("/sdk-dead", status=500)
    job = client.jobs.create(GenerateInput(prompt="a ghost", **SMALL), wait=30)
    wait_until(lambda: len(client.webhooks.dead_letters()) == 2, timeout=30, what="two dead letters")
    receiver.script("/sdk-dead", status=200)
    assert client.webhooks.replay_dead_letters() == 2
    wait_until(
        lambda: [d.status for d in client.jobs.deliveries(job)] == ["delivered", "delivered"],
        timeout=30,
        what="replayed deliveries delivered",
    )
    again = client.jobs.retry_delivery(job, client.jobs.deliveries(job)[0].id)
    assert again.status == "pending"
    assert client.webhooks.set_default_url(None).default_url is None
