"""Events in the tenant streams, written by the job transition scripts, against a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core import keys
from karlo_core.batches import Batch, BatchStore
from karlo_core.event_stream import entry_order, id_at, parse_entry, previous_id
from karlo_core.ids import new_job_id
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobProgress, JobStatus
from karlo_core.jobstore import EventRetention, JobStore
from karlo_core.webhooks.outbox import Outbox
from support.stacks import Services, job_state_keys

KEEP = EventRetention(max_events=1000, max_age_seconds=3600)


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield connection
    connection.close()


def new_job(tenant: str = "t1", **fields: object) -> Job:
    return Job(
        id=new_job_id(),
        kind=JobKind.GENERATE,
        status=JobStatus.QUEUED,
        params=GenerateParams(prompt="p"),
        created_at=time.time(),
        tenant=tenant,
        **fields,  # type: ignore[arg-type]
    )


def events(client: redis.Redis, tenant: str = "t1") -> list[tuple[str, str, str | None]]:
    found = [parse_entry(i, f) for i, f in client.xrange(keys.tenant_events(tenant))]
    return [(e.event, e.job_id, e.job.status.value if e.job else None) for e in found]


def test_every_status_change_is_in_the_tenant_stream_even_without_a_webhook(client: redis.Redis) -> None:
    store = JobStore(client)
    job = new_job()
    assert store.create(job, dispatch_grace=60, events=KEEP)
    assert store.claim(job.id, "lease", lease_seconds=30).claimed
    assert store.succeed(job.id, "lease", [], {})
    assert events(client) == [
        ("job.queued", job.id, "queued"),
        ("job.started", job.id, "running"),
        ("job.succeeded", job.id, "succeeded"),
    ]
    assert Outbox(client).deliveries(job.id) == []
    assert events(client, "t2") == []
    live = client.xrange(keys.events_live())
    assert [fields["stream"] for _, fields in live] == [keys.tenant_events("t1")] * 3


def test_progress_is_streamed_once_per_step_change_and_second_and_always_at_the_last_step(
    client: redis.Redis,
) -> None:
    store = JobStore(client)
    job = new_job(webhook_url="https://example.com/hook")
    store.create(job, dispatch_grace=60, events=KEEP)
    store.claim(job.id, "lease", lease_seconds=30)
    assert not store.record_progress(job.id, "another lease", JobProgress(1, 10, "prior"))
    for step in (1, 1, 2, 3):  # the first step at once, then nothing new within the second
        store.record_progress(job.id, "lease", JobProgress(step, 10, "prior"))
    client.hset(keys.job(job.id), "progress_sent", f"3 {time.time() - 2:.6f}")  # as if sent 2 s ago
    store.record_progress(job.id, "lease", JobProgress(3, 10, "prior"))  # the same step: nothing
    store.record_progress(job.id, "lease", JobProgress(5, 10, "decoder"))
    store.record_progress(job.id, "lease", JobProgress(10, 10, "super_res"))  # the last, within the second
    found = [parse_entry(i, f) for i, f in client.xrange(keys.tenant_events("t1"))]
    progress = [(e.job_id, e.kind, e.progress) for e in found if e.event == "job.progress"]
    assert progress == [
        (job.id, "generate", JobProgress(1, 10, "prior")),
        (job.id, "generate", JobProgress(5, 10, "decoder")),
        (job.id, "generate", JobProgress(10, 10, "super_res")),
    ]
    assert all(e.job is None for e in found if e.event == "job.progress")
    assert [d.event for d in Outbox(client).deliveries(job.id)] == ["job.started"]  # no webhook for progress


def test_a_stream_event_and_its_webhook_delivery_keep_the_same_snapshot(client: redis.Redis) -> None:
    store = JobStore(client)
    job = new_job(webhook_url="https://example.com/hook")
    store.create(job, dispatch_grace=60, events=KEEP)
    store.claim(job.id, "lease", lease_seconds=30)
    (delivery,) = Outbox(client).deliveries(job.id)
    started = parse_entry(*client.xrange(keys.tenant_events("t1"))[-1])
    assert started.job == delivery.job_at_event()


def test_jobs_created_without_streams_write_none(client: redis.Redis) -> None:
    store = JobStore(client)
    job = new_job()
    store.create(job, dispatch_grace=60)
    store.cancel(job.id)
    assert events(client) == []


def test_events_older_than_the_age_kept_are_trimmed(client: redis.Redis) -> None:
    client.xadd(keys.tenant_events("t1"), {"event": "job.queued"}, id="1000-0")
    JobStore(client).create(new_job(), dispatch_grace=60, events=EventRetention(1000, 60))
    assert [event for event, _, _ in events(client)] == ["job.queued"]
    assert client.xrange(keys.tenant_events("t1"))[0][0] != "1000-0"


def test_the_last_job_of_a_batch_to_finish_records_one_batch_completed(client: redis.Redis) -> None:
    store = JobStore(client)
    batch = Batch(id=new_job_id(), tenant="t1", total=2, created_at=time.time())
    jobs = [new_job(batch_id=batch.id), new_job(batch_id=batch.id)]
    BatchStore(client, store).create(batch, jobs, dispatch_grace=60, events=KEEP, keep_seconds=600)
    assert store.cancel(jobs[0].id).value == "canceled"
    assert store.cancel(jobs[0].id).value == "canceled"  # no second count
    assert [e for e, _, _ in events(client)].count("batch.completed") == 0
    store.claim(jobs[1].id, "lease", lease_seconds=30)
    store.succeed(jobs[1].id, "lease", [], {})
    completed = [parse_entry(i, f) for i, f in client.xrange(keys.tenant_events("t1"))][-1]
    assert completed.event == "batch.completed" and completed.batch is not None
    assert (completed.batch.succeeded, completed.batch.canceled, completed.batch_id) == (1, 1, batch.id)
    assert 0 < client.ttl(keys.batch(batch.id)) <= 600


def test_entry_ids_order_and_step_back() -> None:
    assert entry_order("12-3") < entry_order("12-10") < entry_order("13-0")
    assert previous_id("12-3") == "12-2"
    assert entry_order(previous_id("13-0")) < entry_order("13-0")
    assert entry_order(previous_id("13-0")) > entry_order("12-99999")
    assert previous_id("0-0") == "0-0"
    assert id_at(1.5) == "1500-0"


def test_a_withdrawn_job_takes_its_queued_event_back(client: redis.Redis) -> None:
    store = JobStore(client)
    kept = new_job()
    store.create(kept, dispatch_grace=60, events=KEEP)
    job = new_job()
    store.create(job, dispatch_grace=60, events=KEEP)
    store.withdraw(job.id)
    assert [job_id for _, job_id, _ in events(client)] == [kept.id]
    assert len(client.xrange(keys.events_live())) == 1
    store.withdraw(kept.id)
    assert job_state_keys(client) == []
