"""The job store's atomic transitions, against a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core.ids import new_job_id
from karlo_core.jobs import Job, JobError, JobStatus, StoredImage
from karlo_core.jobstore import CancelOutcome, JobStore, LeaseState, SettleOutcome
from support.jobs import create_job
from support.stacks import Services


@pytest.fixture
def store(services: Services) -> Iterator[JobStore]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield JobStore(client)
    client.close()


def make_job(store: JobStore, grace: float = 60.0) -> Job:
    return create_job(store, grace=grace)


IMAGE = StoredImage("jobs/x/0.webp", 8, 8, "webp", 10, 1, None, None)


def test_create_never_overwrites(store: JobStore) -> None:
    job = make_job(store)
    assert not store.create(job, dispatch_grace=60)


def test_only_one_worker_can_claim_a_job(store: JobStore) -> None:
    job = make_job(store)
    first = store.claim(job.id, "a", lease_seconds=30)
    second = store.claim(job.id, "b", lease_seconds=30)
    assert (first.claimed, first.attempts) == (True, 1)
    assert (second.claimed, second.reason) == (False, "leased")


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_cannot_settle(store: JobStore) -> None:
    job = make_job(store)
    assert store.claim(job.id, "a", lease_seconds=0.05).claimed
    time.sleep(0.1)
    takeover = store.claim(job.id, "b", lease_seconds=30)
    assert (takeover.claimed, takeover.attempts) == (True, 2)
    assert takeover.job is not None and (takeover.job.id, takeover.job.status) == (job.id, JobStatus.RUNNING)
    assert not store.succeed(job.id, "a", [IMAGE], {})
    assert store.extend_leases([(job.id, "a"), (job.id, "b")], lease_seconds=30) == [LeaseState.LOST, LeaseState.HELD]
    store.cancel(job.id)
    assert store.extend_leases([(job.id, "b")], lease_seconds=30) == [LeaseState.CANCEL_REQUESTED]
    assert store.end_canceled(job.id, "b") is SettleOutcome.CANCELED
    job = make_job(store)
    assert store.claim(job.id, "b", lease_seconds=30).claimed
    assert store.succeed(job.id, "b", [IMAGE], {"request_id": "r"})
    done = store.get(job.id)
    assert done is not None
    assert (done.status, done.images, done.upstream) == (JobStatus.SUCCEEDED, [IMAGE], {"request_id": "r"})


def test_a_finished_job_cannot_be_claimed_or_settled_again(store: JobStore) -> None:
    job = make_job(store)
    store.claim(job.id, "a", lease_seconds=30)
    assert store.fail(job.id, "a", JobError("upstream_rejected", "bad", -2))
    assert store.claim(job.id, "b", lease_seconds=30).reason == "failed"
    assert not store.succeed(job.id, "a", [IMAGE], {})
    failed = store.get(job.id)
    assert failed is not None and failed.error == JobError("upstream_rejected", "bad", -2)
    assert failed.completed_at is not None


def test_release_requeues_and_success_clears_the_old_error(store: JobStore) -> None:
    job = make_job(store)
    store.claim(job.id, "a", lease_seconds=30)
    assert store.release(job.id, "a", next_deadline=0, error=JobError("upstream_unavailable", "blip"), failures=1)
    queued = store.get(job.id)
    assert queued is not None and queued.status == JobStatus.QUEUED and queued.error is not None
    assert store.claim(job.id, "b", lease_seconds=30).attempts == 2
    assert store.succeed(job.id, "b", [IMAGE], {})
    done = store.get(job.id)
    assert done is not None and done.error is None


def test_a_retry_is_due_on_the_schedule_and_not_claimed_before(store: JobStore) -> None:
    job = make_job(store)
    store.claim(job.id, "a", lease_seconds=30)
    assert store.release(job.id, "a", next_deadline=0.5, error=JobError("upstream_unavailable", "blip"), failures=1)
    assert store.claim(job.id, "early message", lease_seconds=30).reason == "early"
    assert store.due_for_dispatch(limit=10, grace=60) == []
    time.sleep(0.6)
    assert store.due_for_dispatch(limit=10, grace=60) == [job.id]
    assert store.claim(job.id, "b", lease_seconds=30).attempts == 2


def test_a_queued_job_whose_message_died_unclaimed_is_made_due(store: JobStore) -> None:
    job = make_job(store)  # due in a minute
    delivered_at = time.time()
    assert store.reschedule_if_orphaned(job.id, delivered_at=delivered_at) == "rescheduled"
    assert store.due_for_dispatch(limit=10, grace=60) == [job.id]
    assert store.claim(job.id, "a", lease_seconds=30).claimed
    assert store.reschedule_if_orphaned(job.id, delivered_at=delivered_at) == "running"
    assert store.release(job.id, "a", next_deadline=30, error=JobError("x", "y"), failures=1)
    assert store.reschedule_if_orphaned(job.id, delivered_at=delivered_at) == "used"
    assert store.due_for_dispatch(limit=10, grace=60) == []
    assert store.reschedule_if_orphaned("missing", delivered_at=delivered_at) == "missing"


def test_a_taken_job_is_due_again_soon_unless_its_message_is_confirmed(store: JobStore) -> None:
    job = make_job(store, grace=0)
    since = store.now()
    assert store.due_for_dispatch(limit=10, grace=0.3) == [job.id]
    time.sleep(0.4)  # the sender died before sending
    assert store.due_for_dispatch(limit=10, grace=0.3) == [job.id]
    store.dispatched(job.id, grace=60, since=since)
    time.sleep(0.4)
    assert store.due_for_dispatch(limit=10, grace=0.3) == []


def test_a_confirmation_leaves_a_job_claimed_since_alone(store: JobStore) -> None:
    job = make_job(store, grace=0)
    since = store.now()
    assert store.due_for_dispatch(limit=10, grace=60) == [job.id]
    store.claim(job.id, "a", lease_seconds=30)
    assert store.release(job.id, "a", next_deadline=0.2, error=JobError("x", "y"), failures=1)
    store.dispatched(job.id, grace=60, since=since)  # late: the retry's own schedule stands
    time.sleep(0.3)
    assert store.due_for_dispatch(limit=10, grace=60) == [job.id]


def test_due_jobs_are_handed_out_once_per_grace_period(store: JobStore) -> None:
    job = make_job(store, grace=0)
    assert store.due_for_dispatch(limit=10, grace=60) == [job.id]
    assert store.due_for_dispatch(limit=10, grace=60) == []


def test_a_settled_job_leaves_the_schedule(store: JobStore) -> None:
    job = make_job(store, grace=0)
    store.claim(job.id, "a", lease_seconds=0)
    store.succeed(job.id, "a", [IMAGE], {})
    assert store.due_for_dispatch(limit=10, grace=60) == []


def test_cancel_ends_queued_and_waiting_jobs_at_once(store: JobStore) -> None:
    job = make_job(store)
    assert store.cancel(job.id) is CancelOutcome.CANCELED
    assert store.cancel(job.id) is CancelOutcome.CANCELED
    assert not store.claim(job.id, "a", lease_seconds=30).claimed
    canceled = store.get(job.id)
    assert canceled is not None and canceled.status is JobStatus.CANCELED and canceled.completed_at is not None
    assert store.due_for_dispatch(limit=10, grace=1) == []


def test_a_canceled_running_job_drops_its_outcome_whatever_its_worker_reports(store: JobStore) -> None:
    for settle in ("succeed", "release", "wait"):
        job = make_job(store)
        assert store.claim(job.id, "a", lease_seconds=30).claimed
        assert store.cancel(job.id) is CancelOutcome.REQUESTED
        if settle == "succeed":
            assert not store.succeed(job.id, "a", [IMAGE], {})
        elif settle == "release":
            assert not store.release(job.id, "a", next_deadline=1, error=JobError("x", "y"), failures=1)
        else:
            assert not store.wait_for_quota(job.id, "a", eta=time.time(), delay=1)
        ended = store.get(job.id)
        assert ended is not None and (ended.status, ended.images) == (JobStatus.CANCELED, []), settle


def test_a_job_whose_worker_died_after_a_cancel_is_not_run_again(store: JobStore) -> None:
    job = make_job(store)
    assert store.claim(job.id, "a", lease_seconds=0.05).claimed
    assert store.cancel(job.id) is CancelOutcome.REQUESTED
    time.sleep(0.1)
    retaken = store.claim(job.id, "b", lease_seconds=30)
    assert (retaken.claimed, retaken.reason) == (False, "canceled")
    assert store.get(job.id).status is JobStatus.CANCELED  # type: ignore[union-attr]


def test_finished_jobs_are_not_canceled(store: JobStore) -> None:
    job = make_job(store)
    assert store.claim(job.id, "a", lease_seconds=30).claimed
    assert store.succeed(job.id, "a", [IMAGE], {})
    assert store.cancel(job.id) is CancelOutcome.SUCCEEDED
    assert store.cancel(new_job_id()) is CancelOutcome.MISSING
