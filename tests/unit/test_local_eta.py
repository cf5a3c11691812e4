"""A local backend's estimated start: the pace its settled jobs leave in Redis, and the slots played out over the
jobs running and ahead (``karlo_core.local_eta``), read through the scheduler against a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from karlo_core import keys
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, StoredImage
from karlo_core.jobstore import JobStore
from karlo_core.local_eta import SIMULATED_JOBS, Held, Pace, jobs_ahead, slot_start
from karlo_core.quota.policy import make_buckets
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from support.jobs import new_job
from support.stacks import Services

OPEN = "karlo-open"
IMAGE = StoredImage("jobs/x/0.webp", 8, 8, "webp", 10, 1, None, None)


class Local:
    """A karlo-open scheduler on a real Redis, with jobs that run for a set number of seconds."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.store = JobStore(client)
        self.scheduler = Scheduler(client, settings, make_buckets(settings, client))

    def submit(self, tenant: str = "a", images: int = 1) -> Job:
        job = new_job(backend=OPEN, tenant=tenant, params=GenerateParams(prompt="p", samples=images))
        assert self.store.create(job, dispatch_grace=60, schedule_offset=0.0)
        return job

    def dispatch(self) -> list[str]:
        return [h.job_id for h in self.scheduler.dispatch(OPEN).handed]

    def claim(self, job: Job, ran: float = 0.0) -> None:
        """Claim a handed-out job as if ``ran`` seconds ago."""
        assert self.store.claim(job.id, "t", lease_seconds=600).claimed
        if ran:
            claimed = float(self.client.hget(keys.job(job.id), "claimed_at") or 0)
            self.client.hset(keys.job(job.id), "claimed_at", f"{claimed - ran:.6f}")

    def finish(self, job: Job, ran: float) -> None:
        """Claim a handed-out job and settle it as succeeded after a run of ``ran`` seconds."""
        self.claim(job, ran)
        assert self.store.succeed(job.id, "t", [IMAGE], {})

    def pace(self) -> Pace:
        seconds, images, runs = self.client.hmget(keys.sched_pace(OPEN), "seconds", "images", "runs")
        return Pace(float(seconds or 0), float(images or 0), int(runs or 0))

    def eta(self, job: Job) -> float | None:
        place = self.scheduler.place(job)
        assert place is not None
        return place.estimated_start_at

    def now(self) -> float:
        seconds, micros = self.client.time()
        return float(seconds) + float(micros) / 1e6


def _local(services: Services, **overrides: object) -> Iterator[Local]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    client.flushdb()
    values: dict[str, object] = {"redis_url": services.redis_url, "enabled_backends": "karlo,karlo-open", **overrides}
    yield Local(client, Settings(**values))  # type: ignore[arg-type]
    client.close()


@pytest.fixture
def one_slot(services: Services) -> Iterator[Local]:
    yield from _local(services, local_backend_slots=1)


def test_a_succeeded_job_sets_the_pace_and_later_ones_move_it_by_their_weight(one_slot: Local) -> None:
    first, second = one_slot.submit(images=2), one_slot.submit(images=1)
    assert one_slot.dispatch() == [first.id]
    one_slot.finish(first, ran=10)
    pace = one_slot.pace()
    assert pace.runs == 1 and pace.images == 2 and 10 <= pace.seconds < 10.5
    assert one_slot.dispatch() == [second.id]
    one_slot.finish(second, ran=20)
    after = one_slot.pace()
    assert after.runs == 2
    assert after.seconds == pytest.approx(pace.seconds + 0.3 * (20 - pace.seconds), abs=0.5)
    assert after.images == pytest.approx(2 + 0.3 * (1 - 2))


def test_a_failed_job_leaves_the_pace_alone(one_slot: Local) -> None:
    job = one_slot.submit()
    assert one_slot.dispatch() == [job.id]
    one_slot.claim(job, ran=5)
    assert one_slot.store.fail(job.id, "t", __import__("karlo_core.jobs").jobs.JobError("x", "y"))
    assert one_slot.pace().runs == 0


def test_without_a_pace_there_is_no_estimate_and_after_one_run_the_next_slot_names_it(one_slot: Local) -> None:
    jobs = [one_slot.submit() for _ in range(3)]
    assert one_slot.dispatch() == [jobs[0].id]
    assert one_slot.eta(jobs[2]) is None  # no job of the backend has finished: nothing measured
    one_slot.finish(jobs[0], ran=10)
    assert one_slot.dispatch() == [jobs[1].id]
    one_slot.claim(jobs[1], ran=4)
    seconds = one_slot.pace().seconds
    claimed = float(one_slot.client.hget(keys.job(jobs[1].id), "claimed_at") or 0)
    # the only job ahead is running: the slot frees one run after its claim
    assert one_slot.eta(jobs[2]) == pytest.approx(claimed + seconds, abs=0.01)
    backlog = one_slot.scheduler.backlog(OPEN, "a")
    assert (backlog.jobs, backlog.drained_at) == (1, pytest.approx(claimed + seconds, abs=0.01))


def test_queued_jobs_ahead_and_other_tenants_shares_push_the_estimate_back(one_slot: Local) -> None:
    first = one_slot.submit()
    assert one_slot.dispatch() == [first.id]
    one_slot.finish(first, ran=10)
    mine = [one_slot.submit("a") for _ in range(3)]
    assert one_slot.dispatch() == [mine[0].id]  # the slot is busy with it, not claimed yet: a whole run
    seconds = one_slot.pace().seconds
    alone = one_slot.eta(mine[2])
    assert alone == pytest.approx(one_slot.now() + 2 * seconds, abs=0.5)
    for _ in range(3):
        one_slot.submit("b")
    place = one_slot.scheduler.place(mine[2])
    assert place is not None and place.tenant == 2 and place.overall > place.tenant
    assert place.estimated_start_at is not None and alone is not None
    # b's jobs share the slot by weight: about one of its runs goes before a's second queued job
    assert place.estimated_start_at >= alone + seconds - 0.5


def test_without_a_ready_worker_there_is_no_slot_and_no_estimate(services: Services) -> None:
    for local in _local(services):  # slots by heartbeats
        jobs = [local.submit() for _ in range(2)]
        local.client.hset(keys.sched_pace(OPEN), mapping={"seconds": 10, "images": 1, "runs": 1})
        assert local.dispatch() == [] and local.eta(jobs[1]) is None
        local.client.zadd(keys.backend_workers(OPEN), {"host:1": time.time()})
        assert local.eta(jobs[1]) == pytest.approx(local.now() + 10, abs=0.5)


def test_slots_are_played_out_job_by_job_over_what_runs_and_what_is_ahead() -> None:
    pace = Pace(seconds=10.0, images=1.0, runs=3)
    held = [Held(images=1, ran=4.0), Held(images=1, ran=None)]  # frees at 6 and at 10
    # a at 6 (to 16), b at 10 (to 20), c at 16 (to 26): the job after them at 20
    assert slot_start(100.0, 2, pace, held, iter([1.0, 1.0, 1.0])) == pytest.approx(120.0)
    assert slot_start(100.0, 2, pace, [Held(images=3, ran=100.0)], iter([])) == pytest.approx(100.0)  # overran
    assert slot_start(100.0, 1, pace, [], iter([2.0])) == pytest.approx(120.0)  # a run scales with images
    # beyond the jobs played out one by one, the rest's runs are spread over the slots
    long = iter([1.0] * (SIMULATED_JOBS + 100))
    assert slot_start(0.0, 4, pace, [], long) == pytest.approx(10.0 * (SIMULATED_JOBS + 100) / 4)


def test_other_tenants_images_come_in_jobs_of_the_mean_size_interleaved_with_the_tenants_own() -> None:
    assert list(jobs_ahead(2, 4.0, 3.0, Pace(seconds=10.0, images=2.0, runs=1))) == [2.0, 1.5, 2.0, 1.5]
    assert list(jobs_ahead(1, 1.0, 4.0, Pace(seconds=10.0, images=2.0, runs=1))) == [2.0, 1.0, 2.0]
    assert list(jobs_ahead(0, 0.0, 0.0, Pace(seconds=10.0, images=2.0, runs=1))) == []
