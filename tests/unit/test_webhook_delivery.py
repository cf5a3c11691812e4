"""One delivery run against a real Redis and a receiver process: duplicate messages do not send twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import REGISTRY
from standardwebhooks import Webhook

from karlo_core.jobs import Job
from karlo_core.jobstore import JobStore
from karlo_core.settings import Settings
from karlo_core.storage.factory import make_storage
from karlo_core.webhooks.delivery import Deliverer
from karlo_core.webhooks.factory import make_deliverer
from support.jobs import create_job
from support.receiver import Receiver
from support.stacks import Services


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    started = Receiver(Path(tmp_path_factory.mktemp("receiver"))).start()
    yield started
    started.stop()


@pytest.fixture
def parts(services: Services, tmp_path: Path) -> Iterator[tuple[JobStore, Deliverer]]:
    settings = Settings(
        redis_url=services.redis_url,
        storage_url=f"file://{tmp_path}",
        webhook_allow_networks="127.0.0.0/8",
        webhook_allow_http=True,
        webhook_retry_schedule="30s",
        webhook_retry_jitter=0,
    )
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield JobStore(client), make_deliverer(settings, client, make_storage(settings))
    client.close()


def attempts_counted(outcome: str) -> float:
    labels = {"event": "job.started", "outcome": outcome}
    return REGISTRY.get_sample_value("karlo_queue_webhook_attempts_total", labels) or 0.0


def started_job(store: JobStore, url: str) -> Job:
    job = create_job(store, tenant="t9", webhook_url=url, webhook_events="job.started")
    store.claim(job.id, "a", lease_seconds=30)
    return job


def test_a_duplicate_message_after_delivery_sends_nothing(
    parts: tuple[JobStore, Deliverer], receiver: Receiver
) -> None:
    store, deliverer = parts
    secret = deliverer.secrets.rotate("t9").secret
    job = started_job(store, receiver.hook("/dup-ok"))
    before = attempts_counted("delivered")
    assert deliverer.deliver(job.id, 1) == "delivered"
    assert deliverer.deliver(job.id, 1) is None
    assert attempts_counted("delivered") == before + 1
    [record] = receiver.received("/dup-ok")
    body = Webhook(secret).verify(record["body"], record["headers"])
    assert (body["id"], body["status"]) == (job.id, "running")


def test_a_duplicate_message_before_the_next_try_is_due_sends_nothing(
    parts: tuple[JobStore, Deliverer], receiver: Receiver
) -> None:
    store, deliverer = parts
    deliverer.secrets.rotate("t9")
    receiver.script("/dup-fail", status=503)
    job = started_job(store, receiver.hook("/dup-fail"))
    assert deliverer.deliver(job.id, 1) == "pending"
    assert deliverer.deliver(job.id, 1) is None
    assert len(receiver.received("/dup-fail")) == 1
    delivery = deliverer.outbox.get(job.id, 1)
    assert delivery is not None and delivery.next_at is not None and delivery.next_at > time.time() + 20


def test_an_attempt_in_flight_blocks_a_second_one(parts: tuple[JobStore, Deliverer], receiver: Receiver) -> None:
    store, deliverer = parts
    deliverer.secrets.rotate("t9")
    job = started_job(store, receiver.hook("/in-flight"))
    assert deliverer.outbox.begin_attempt(job.id, 1, ttl_seconds=30)
    assert deliverer.deliver(job.id, 1) is None
    deliverer.outbox.end_attempt(job.id, 1)
    assert deliverer.deliver(job.id, 1) == "delivered"


def test_a_delivery_of_a_deleted_job_leaves_the_schedule(parts: tuple[JobStore, Deliverer], receiver: Receiver) -> None:
    store, deliverer = parts
    deliverer.secrets.rotate("t9")
    job = started_job(store, receiver.hook("/deleted"))
    store.delete(job.id)  # as the retention purge does
    assert deliverer.deliver(job.id, 1) is None
    assert deliverer.outbox.due(limit=100, lease_seconds=60) == []
    assert receiver.received("/deleted") == []
