"""Job status changes record webhook events atomically; attempts, dead letters and replays, on a real Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core import keys
from karlo_core.jobs import Job, JobError, JobStatus, StoredImage
from karlo_core.jobstore import JobStore
from karlo_core.webhooks.endpoints import WebhookEndpoints
from karlo_core.webhooks.outbox import Attempt, Outbox, parse_delivery_id
from support.jobs import create_job
from support.stacks import Services

IMAGE = StoredImage("jobs/x/0.webp", 8, 8, "webp", 10, 1, None, None)


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(client: redis.Redis) -> JobStore:
    return JobStore(client)


@pytest.fixture
def outbox(client: redis.Redis) -> Outbox:
    return Outbox(client)


def make_job(store: JobStore, url: str | None = "https://example.com/hook", events: str = "") -> Job:
    return create_job(store, tenant="t1", webhook_url=url, webhook_events=events)


def test_each_status_change_records_its_event_with_the_job_as_it_was(store: JobStore, outbox: Outbox) -> None:
    job = make_job(store)
    assert store.claim(job.id, "a", lease_seconds=30).claimed
    assert store.wait_for_quota(job.id, "a", eta=time.time(), delay=0)
    assert store.claim(job.id, "b", lease_seconds=30).claimed
    assert store.succeed(job.id, "b", [IMAGE], {"request_id": "r"})
    found = outbox.deliveries(job.id)
    assert [d.event for d in found] == ["job.started", "job.waiting_for_quota", "job.started", "job.succeeded"]
    assert [d.job_at_event().status for d in found] == [
        JobStatus.RUNNING,
        JobStatus.WAITING_FOR_QUOTA,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    ]
    assert found[-1].job_at_event().images == [IMAGE]
    assert all("lease_token" not in d.job for d in found)
    assert [d.id for d in found] == [f"msg_{job.id}_{n}" for n in (1, 2, 3, 4)]
    assert parse_delivery_id(found[0].id) == (job.id, 1)
    assert {d.status for d in found} == {"pending"} and found[0].tenant == "t1"


def test_no_event_without_a_url_for_a_filtered_event_or_a_refused_change(store: JobStore, outbox: Outbox) -> None:
    silent = make_job(store, url=None)
    store.claim(silent.id, "a", lease_seconds=30)
    assert outbox.deliveries(silent.id) == []
    filtered = make_job(store, events="job.failed job.succeeded")
    store.claim(filtered.id, "a", lease_seconds=30)
    assert not store.succeed(filtered.id, "stale-token", [IMAGE], {})
    store.fail(filtered.id, "a", JobError("x", "y"))
    assert [d.event for d in outbox.deliveries(filtered.id)] == ["job.failed"]


def test_a_retry_back_to_the_queue_sends_nothing(store: JobStore, outbox: Outbox) -> None:
    job = make_job(store, events="job.succeeded job.failed")
    store.claim(job.id, "a", lease_seconds=30)
    store.release(job.id, "a", next_deadline=5, error=JobError("x", "y"), failures=1)
    assert outbox.deliveries(job.id) == []


def test_due_deliveries_are_leased_then_scheduled_by_their_outcome(
    store: JobStore, outbox: Outbox, client: redis.Redis
) -> None:
    job = make_job(store, events="job.started")
    store.claim(job.id, "a", lease_seconds=30)
    assert outbox.due(limit=10, lease_seconds=60) == [(job.id, 1)]
    assert outbox.due(limit=10, lease_seconds=60) == []
    delivery = outbox.get(job.id, 1)
    assert delivery is not None
    attempt = Attempt(time.time(), "http_error", 500, 12.5, "receiver answered 500")
    assert outbox.record(delivery, attempt, status="pending", delay=0)
    again = outbox.get(job.id, 1)
    assert again is not None and again.attempts[0]["status_code"] == 500 and again.failures_this_round == 1
    assert outbox.due(limit=10, lease_seconds=60) == [(job.id, 1)]
    assert outbox.record(again, attempt, status="dead")
    assert not outbox.record(again, attempt, status="delivered"), "a second recorder loses"
    assert outbox.dead_letters("t1") == [(job.id, 1)]
    assert client.zscore(keys.webhook_schedule(), f"{job.id}:1") is None

    assert outbox.replay_dead_letters("t1") == 1
    replayed = outbox.get(job.id, 1)
    assert replayed is not None
    assert (replayed.status, replayed.failures_this_round, len(replayed.attempts)) == ("pending", 0, 2)
    assert outbox.dead_letters("t1") == []
    assert outbox.due(limit=10, lease_seconds=60) == [(job.id, 1)]


def test_gone_disables_the_endpoint_for_the_tenant_until_it_is_set_again(
    store: JobStore, outbox: Outbox, client: redis.Redis
) -> None:
    endpoints = WebhookEndpoints(client)
    job = make_job(store, events="job.started")
    store.claim(job.id, "a", lease_seconds=30)
    delivery = outbox.get(job.id, 1)
    assert delivery is not None
    assert outbox.record(delivery, Attempt(time.time(), "gone", 410, 3.0), status="disabled", gone=True)
    assert endpoints.is_disabled("t1", "https://example.com/hook")
    info = endpoints.disabled_endpoints("t1")["https://example.com/hook"]
    assert info["delivery_id"] == delivery.id
    endpoints.set_default_url("t1", "https://example.com/hook")
    assert not endpoints.is_disabled("t1", "https://example.com/hook")
    assert endpoints.default_url("t1") == "https://example.com/hook"


def test_the_outbox_holds_no_secret(store: JobStore, client: redis.Redis) -> None:
    job = make_job(store)
    store.claim(job.id, "a", lease_seconds=30)
    raw = client.hget(keys.job_deliveries(job.id), "1")
    assert raw is not None and "whsec_" not in raw
    assert json.loads(raw)["job"]["webhook_url"] == "https://example.com/hook"


def test_cancel_records_job_canceled_whichever_script_ends_the_job(store: JobStore, outbox: Outbox) -> None:
    queued = make_job(store)
    store.cancel(queued.id)
    assert [d.event for d in outbox.deliveries(queued.id)] == ["job.canceled"]
    running = make_job(store)
    store.claim(running.id, "a", lease_seconds=30)
    store.cancel(running.id)
    assert [d.event for d in outbox.deliveries(running.id)] == ["job.started"], "only requested while running"
    store.succeed(running.id, "a", [IMAGE], {})
    events = outbox.deliveries(running.id)
    assert [d.event for d in events] == ["job.started", "job.canceled"]
    assert events[-1].job_at_event().status == JobStatus.CANCELED
