"""The fair scheduler's Lua steps against a real Redis, on the quota's test clock (no sleeping)."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from karlo_core import keys
from karlo_core.ids import new_job_id
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import JobStore
from karlo_core.plans import Plans, priority_offset
from karlo_core.quota.policy import make_buckets, upstream_scope
from karlo_core.scheduler import (
    FILL_TOLERANCE_SHARE,
    Scheduler,
    _Head,
    _pick,
    _Queued,
    fill_limits,
    replay_start,
)
from karlo_core.settings import Settings
from support.stacks import Services

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime.fromisoformat("2026-11-25T12:00:00").replace(tzinfo=SEOUL).timestamp()
WINDOW = 60.0


class Rig:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.store = JobStore(client)
        self.quota = make_buckets(settings, client)
        self.scheduler = Scheduler(client, settings, self.quota)
        self.plans = Plans(client, settings)
        self.at(START)

    def at(self, moment: float) -> None:
        self.quota.set_test_clock(moment)

    def submit(self, tenant: str, images: int = 1, priority: str = "normal", backend: str = "karlo") -> str:
        job = Job(
            id=new_job_id(),
            kind=JobKind.GENERATE,
            status=JobStatus.QUEUED,
            params=GenerateParams(prompt="p", samples=images),
            created_at=time.time(),
            tenant=tenant,
            backend=backend,
            priority=priority,
        )
        assert self.store.create(job, dispatch_grace=60, schedule_offset=priority_offset(self.settings, priority))
        return job.id

    def dispatch(self, limit: int = 100, backend: str = "karlo") -> list[str]:
        return [h.job_id for h in self.scheduler.dispatch(backend, limit=limit).handed]


def make_rig(services: Services, **overrides: object) -> Iterator[Rig]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    client.flushdb()
    values: dict[str, object] = {
        "redis_url": services.redis_url,
        "quota_test_clock": True,
        "quota_per_minute": 10_000,
        "quota_per_day": 10**6,
        "quota_per_month": 10**7,
        "quota_minute_window_seconds": WINDOW,
        "quota_window_guard_seconds": 0,
        **overrides,
    }
    yield Rig(client, Settings(**values))  # type: ignore[arg-type]
    client.close()


@pytest.fixture
def rig(services: Services) -> Iterator[Rig]:
    yield from make_rig(services)


@pytest.fixture
def tight(services: Services) -> Iterator[Rig]:
    yield from make_rig(services, quota_per_minute=10)


def test_jobs_of_a_tenant_go_in_order_and_a_high_one_first(rig: Rig) -> None:
    normal = [rig.submit("a") for _ in range(50)]
    high = rig.submit("a", priority="high")
    assert rig.dispatch(limit=1) == [high]
    assert rig.dispatch() == normal


def test_a_low_job_is_passed_only_within_its_aging_bound(rig: Rig) -> None:
    low = rig.submit("a", priority="low")
    later = rig.submit("a")
    # score = accepted_at + aging: normal jobs accepted within the bound after it pass it, later ones do not
    scores = {m: s for m, s in rig.client.zrange(keys.sched_queue("karlo", "a"), 0, -1, withscores=True)}
    assert scores[later] < scores[low] < scores[later] + rig.settings.low_priority_aging_seconds
    assert rig.dispatch() == [later, low]


def test_tenants_share_in_proportion_to_their_weights_counted_in_images(rig: Rig) -> None:
    rig.plans.set("c", {"weight": "2"})
    for _ in range(60):
        rig.submit("b")
        rig.submit("c")
    first = rig.dispatch(limit=30)
    tenants = Counter(str(rig.client.hget(keys.job(j), "sched_tenant")) for j in first)
    assert tenants == Counter({"b": 10, "c": 20})
    # counted in images: a tenant of 3-image jobs gets a third as many jobs as one of 1-image jobs
    rig.client.flushdb()
    rig.at(START)
    for _ in range(30):
        rig.submit("big", images=3)
        rig.submit("small")
    counts = Counter(str(rig.client.hget(keys.job(j), "sched_tenant")) for j in rig.dispatch(limit=40))
    assert counts == Counter({"big": 10, "small": 30})


def test_an_idle_tenant_leaves_and_comes_back_without_a_saved_up_share(rig: Rig) -> None:
    for _ in range(20):
        rig.submit("a")
    rig.submit("b")
    rig.dispatch(limit=4)
    assert rig.client.zscore(keys.sched_tenants("karlo"), "b") is None  # b's one job went, so it left
    for _ in range(10):
        rig.submit("b")
    handed = rig.dispatch(limit=10)
    tenants = Counter(str(rig.client.hget(keys.job(j), "sched_tenant")) for j in handed)
    assert tenants["b"] <= 6 and tenants["a"] >= 4  # b starts at the virtual clock, not at its old tag


def test_the_quota_is_never_overrun_and_every_window_is_filled(tight: Rig) -> None:
    sizes = [1, 2, 3, 4] * 15
    for n in sizes:
        tight.submit("a", images=n)
    taken: list[tuple[float, int]] = []
    for step in range(0, int(16 * WINDOW), 2):
        moment = START + step
        tight.at(moment)
        for job_id in tight.dispatch():
            taken.append((moment, int(str(tight.client.hget(keys.job(job_id), "sched_images")))))
    for begin, _ in taken:
        assert sum(n for t, n in taken if begin <= t < begin + WINDOW) <= 10
    assert sum(n for _, n in taken) == sum(sizes)
    per_window = [sum(n for t, n in taken if START + k * WINDOW <= t < START + (k + 1) * WINDOW) for k in range(15)]
    assert min(per_window) >= 9


def test_small_jobs_fill_the_remainder_only_until_the_head_has_waited_its_bound(tight: Rig) -> None:
    first = tight.submit("a", images=8)
    head = tight.submit("a", images=4)
    fillers = [tight.submit("a", images=1) for _ in range(6)]
    assert tight.dispatch() == [first, *fillers[:2]]  # the head needs 4 of the 2 left: two 1-image jobs fill
    waiting = tight.store.get(head)
    assert waiting is not None and waiting.status is JobStatus.WAITING_FOR_QUOTA and waiting.quota_eta == START + 60
    tight.at(START + 60)  # the 8 go: the head fits, and goes first
    assert tight.dispatch()[0] == head


def test_nothing_passes_a_head_blocked_longer_than_the_bound(tight: Rig) -> None:
    tight.submit("a", images=8)
    tight.dispatch()
    tight.at(START + 1)
    head = tight.submit("a", images=4)
    filler = tight.submit("a", images=1)
    assert tight.dispatch() == [filler]  # within the bound
    tight.at(START + 59.5)
    late = tight.submit("a", images=1)
    tight.client.hset(keys.sched_head("karlo"), "since", repr(START - 10))  # blocked for over a window
    assert tight.dispatch() == []
    tight.at(START + 61)
    assert tight.dispatch() == [head, late]


def test_a_tenant_at_its_own_plan_limit_is_passed_over(tight: Rig) -> None:
    tight.plans.set("a", {"per_minute": "2"})
    a_jobs = [tight.submit("a") for _ in range(4)]
    b_jobs = [tight.submit("b") for _ in range(4)]
    handed = tight.dispatch()
    assert set(a_jobs) & set(handed) == set(a_jobs[:2])
    assert set(b_jobs) <= set(handed)


def test_the_reservation_is_written_on_the_job_for_its_next_attempt(tight: Rig) -> None:
    job_id = tight.submit("a", images=3)
    assert tight.dispatch() == [job_id]
    job = tight.store.get(job_id)
    assert job is not None and job.reservation == f"{job_id}:d1" and job.reservation_attempt == 1
    assert tight.client.zscore(keys.job_deadlines(), job_id) is not None
    assert tight.client.zscore(keys.sched_queue("karlo", "a"), job_id) is None
    assert int(str(tight.client.get(keys.quota_minute_total("karlo")))) == 3


def test_a_job_karlo_refused_goes_back_to_the_head_of_its_queue(rig: Rig) -> None:
    first, second = rig.submit("a"), rig.submit("a")
    assert rig.dispatch(limit=1) == [first]
    assert rig.store.claim(first, "t", lease_seconds=30).claimed
    assert rig.store.requeue(first, "t", status=JobStatus.WAITING_FOR_QUOTA, images=1)
    assert rig.client.zscore(keys.job_deadlines(), first) is None
    job = rig.store.get(first)
    assert job is not None and job.status is JobStatus.WAITING_FOR_QUOTA and job.reservation is None
    assert rig.dispatch() == [first, second]
    assert rig.store.get(first).reservation == f"{first}:d2"  # type: ignore[union-attr]


def test_a_canceled_queued_job_leaves_its_queue(rig: Rig) -> None:
    job_id = rig.submit("a", images=2)
    assert rig.store.cancel(job_id).value == "canceled"
    assert rig.client.zcard(keys.sched_queue("karlo", "a")) == 0
    assert rig.client.hget(keys.sched_images("karlo"), "a") is None
    assert rig.client.zscore(keys.sched_tenants("karlo"), "a") is None
    assert rig.dispatch() == []


def test_a_local_backend_hands_out_no_more_than_its_slots(services: Services) -> None:
    for r in make_rig(services, local_backend_slots=2):
        jobs = [r.submit("a", backend="karlo-open") for _ in range(4)]
        assert r.dispatch(backend="karlo-open") == jobs[:2]
        assert r.dispatch(backend="karlo-open") == []
        assert r.store.claim(jobs[0], "t", lease_seconds=30).claimed
        assert r.store.fail(jobs[0], "t", error=__import__("karlo_core.jobs").jobs.JobError("x", "y"))
        assert r.dispatch(backend="karlo-open") == [jobs[2]]


def test_position_and_estimate_fall_as_jobs_ahead_go(tight: Rig) -> None:
    jobs = [tight.submit("a", images=2) for _ in range(20)]
    last = tight.store.get(jobs[-1])
    assert last is not None
    before = tight.scheduler.place(last)
    assert before is not None and before.tenant == 20 and before.overall == 20
    assert before.estimated_start_at is not None and before.estimated_start_at >= START + 3 * WINDOW
    tight.dispatch()
    after = tight.scheduler.place(last)
    assert after is not None and after.tenant == 15
    assert after.estimated_start_at is not None and after.estimated_start_at <= before.estimated_start_at


def test_the_scheduler_gauges_name_only_the_top_tenants(rig: Rig) -> None:
    from karlo_core import metrics
    from karlo_core.exposition import make_state_collector

    for i in range(metrics.TOP_TENANTS + 5):
        for _ in range(i + 1):
            rig.submit(f"t{i:02d}")
    rig.dispatch(limit=20)
    families = {f.name: f for f in make_state_collector(rig.settings, rig.client).collect()}
    queued = families[metrics.SCHED_QUEUED_IMAGES.name].samples
    assert len(queued) == metrics.TOP_TENANTS + 1 and queued[-1].labels["tenant"] == "other"
    shares = families[metrics.SCHED_ENTITLED_SHARE.name].samples
    assert abs(sum(s.value for s in shares) - 1.0) < 1e-9
    active = families[metrics.JOBS_ACTIVE.name].samples
    assert sum(s.value for s in active) == sum(i + 1 for i in range(metrics.TOP_TENANTS + 5))


def test_the_sweeper_resends_a_lost_message_but_requeues_a_job_whose_worker_died(rig: Rig) -> None:
    lost, died = rig.submit("a"), rig.submit("a")
    assert rig.dispatch() == [lost, died]
    assert rig.store.resend_or_requeue(lost, images=1) == "send"  # its reservation is unused: only the message went
    assert rig.store.claim(died, "t", lease_seconds=0.01).claimed
    time.sleep(0.05)  # the lease runs out: the worker is gone, and its attempt took the reservation with it
    assert rig.store.resend_or_requeue(died, images=1) == "requeued"
    job = rig.store.get(died)
    assert job is not None and job.status is JobStatus.QUEUED and job.reservation is None
    assert rig.client.zscore(keys.job_deadlines(), died) is None
    assert rig.dispatch() == [died]
    assert rig.store.get(died).reservation == f"{died}:d2"  # type: ignore[union-attr]


def test_a_retry_waits_out_its_backoff_in_its_queue_while_later_jobs_go(rig: Rig) -> None:
    retried, later = rig.submit("a"), rig.submit("a")
    assert rig.dispatch(limit=1) == [retried]
    assert rig.store.claim(retried, "t", lease_seconds=30).claimed
    error = __import__("karlo_core.jobs").jobs.JobError("upstream_unavailable", "down")
    assert rig.store.requeue(retried, "t", status=JobStatus.QUEUED, images=1, delay=30, error=error, failures=1)
    assert rig.dispatch() == [later]
    step = rig.scheduler.dispatch("karlo")
    assert step.handed == [] and step.wake_at is not None


def test_without_a_slots_setting_each_ready_worker_of_a_local_backend_is_one_slot(rig: Rig) -> None:
    jobs = [rig.submit("a", backend="karlo-open") for _ in range(3)]
    assert rig.dispatch(backend="karlo-open") == []  # no worker has the backend loaded
    rig.client.zadd(keys.backend_workers("karlo-open"), {"host:1": time.time(), "host:2": time.time()})
    rig.client.zadd(keys.backend_workers("karlo-open"), {"host:3": time.time() - 3600})  # stale: dead
    assert rig.dispatch(backend="karlo-open") == jobs[:2]


def _hand_out_times(rig: Rig, jobs: list[str], until: float) -> dict[str, float]:
    """Dispatch at now and at every moment the minute log frees images, as the workers' ticks do; when each
    job was handed out."""
    moment, handed = START, dict[str, float]()
    while moment <= until and len(handed) < len(jobs):
        rig.at(moment)
        step = rig.scheduler.dispatch("karlo")
        handed.update({h.job_id: moment for h in step.handed})
        moment = step.wake_at if step.wake_at is not None and step.wake_at > moment else moment + WINDOW
    return handed


@pytest.fixture
def prompt(tight: Rig, monkeypatch: pytest.MonkeyPatch) -> Rig:
    """The tight rig, with dispatch steps taken the moment images free up (as ``_hand_out_times`` takes them)."""
    monkeypatch.setattr("karlo_core.scheduler.DISPATCH_LAGS", (0.0,))
    monkeypatch.setattr("karlo_core.scheduler.FILL_LAGS", (0.0,))
    return tight


def test_the_replay_follows_the_dispatcher_with_real_sizes_and_small_jobs_filling_the_remainder(prompt: Rig) -> None:
    sizes = [8, 4, 1, 1, 3, 1, 4, 2, 2, 1, 4, 4, 1, 3]
    jobs = [prompt.submit("a", images=n) for n in sizes]
    view = prompt.scheduler._read("karlo", "a", None)
    assert [job.images for job in view.jobs] == sizes and view.total_images == sum(sizes)
    filled = {j: replay_start(view, r, limit=10, span=WINDOW, others=0, fill_lag=0, lag=0) for r, j in enumerate(jobs)}
    strict = {
        j: replay_start(view, r, limit=10, span=WINDOW, others=0, fill_lag=None, lag=0) for r, j in enumerate(jobs)
    }
    shown = {}
    for job_id in jobs:
        place = prompt.scheduler.place(prompt.store.get(job_id))  # type: ignore[arg-type]
        assert place is not None and place.estimated_start_at is not None
        shown[job_id] = place.estimated_start_at
    handed = _hand_out_times(prompt, jobs, START + 20 * WINDOW)
    assert handed[jobs[2]] == START and handed[jobs[1]] == START + WINDOW  # 1-image jobs passed the 4
    assert filled == handed
    assert strict[jobs[2]] == START + WINDOW and strict[jobs[1]] == START + WINDOW  # in order, nothing passes
    assert shown == filled


def test_the_estimate_counts_the_delay_from_hand_out_to_call_that_moves_each_window(prompt: Rig) -> None:
    first = [prompt.submit("a", images=5) for _ in range(2)]
    waiting = prompt.submit("a", images=5)
    assert prompt.dispatch() == first
    job = prompt.store.get(waiting)
    assert job is not None
    assert prompt.scheduler.place(job).estimated_start_at == START + WINDOW  # type: ignore[union-attr]
    prompt.at(START + 4)  # the calls come 4 s after the hand-out: the images count until then + the window
    for job_id in first:
        assert prompt.quota.restamp(f"{job_id}:d1")
    assert prompt.scheduler.place(job).estimated_start_at == START + 4 + WINDOW  # type: ignore[union-attr]
    later = prompt.submit("a", images=8)
    estimate = prompt.scheduler.place(prompt.store.get(later)).estimated_start_at  # type: ignore[arg-type, union-attr]
    assert estimate == START + 4 + WINDOW + 4 + WINDOW  # the next window is expected to drift as much


def test_a_job_beyond_the_jobs_read_is_estimated_at_full_windows_after_them(
    prompt: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("karlo_core.scheduler.ESTIMATE_JOBS", 4)
    jobs = [prompt.submit("a", images=5) for _ in range(10)]
    estimates = [prompt.scheduler.place(prompt.store.get(j)).estimated_start_at for j in jobs]  # type: ignore[arg-type, union-attr]
    assert estimates == [START, START, START + WINDOW, START + WINDOW] + [
        START + WINDOW + k * WINDOW for k in (1, 1, 2, 2, 3, 3)
    ]


def test_a_job_its_plans_day_cannot_hold_is_estimated_at_the_days_end_and_others_ahead_counted(tight: Rig) -> None:
    tight.plans.set("a", {"per_day": "5"})
    first = [tight.submit("a", images=2) for _ in range(2)]
    over = tight.submit("a", images=2)
    assert tight.dispatch() == first
    place = tight.scheduler.place(tight.store.get(over))  # type: ignore[arg-type]
    day_end = datetime.fromisoformat("2026-11-26T00:00:00").replace(tzinfo=SEOUL).timestamp()
    assert place is not None and place.estimated_start_at == day_end
    # another tenant's queued jobs ahead by virtual tag count in the overall position, not in the tenant's
    tight.plans.set("a", {"per_day": ""})
    others = [tight.submit("b") for _ in range(3)]
    place = tight.scheduler.place(tight.store.get(over))  # type: ignore[arg-type]
    assert place is not None and place.tenant == 1 and place.overall > 1
    assert others and place.estimated_start_at is not None and place.estimated_start_at < day_end


def _staggered_hand_out_times(rig: Rig, jobs: list[str], *, late: float, until: float) -> dict[str, float]:
    """As ``_hand_out_times``, with each step ``late`` seconds after the moment named and each job's call (which
    moves its minute-log entry) 10 ms after the one before it, as workers claim the jobs of one step in turn:
    the images of a window then free one call at a time."""
    moment, handed = START, dict[str, float]()
    while moment <= until and len(handed) < len(jobs):
        rig.at(moment)
        step = rig.scheduler.dispatch("karlo")
        for k, h in enumerate(step.handed):
            handed[h.job_id] = moment
            rig.at(moment + 0.01 * (k + 1))
            assert rig.quota.restamp(f"{h.job_id}:d1")
        wake = step.wake_at
        moment = wake + late if wake is not None and wake + late > moment else moment + WINDOW
    return handed


def test_the_window_a_job_goes_in_turns_on_the_minute_log_not_on_when_steps_come(prompt: Rig) -> None:
    # a step between two calls' releases sees only part of a window's images free: a smaller job may take them
    # only when that delays no job it passes by more than the fill tolerance, so steps a few ms or a few tenths
    # of a second after the releases hand out the same jobs in each window, and the replay agrees
    sizes = [1 + (i * 7 + i // 4) % 4 for i in range(24)]
    windows: list[list[int]] = []
    for late in (0.0, 0.005, 0.015, 0.3):
        prompt.client.flushdb()
        prompt.at(START)
        jobs = [prompt.submit("a", images=n) for n in sizes]
        handed = _staggered_hand_out_times(prompt, jobs, late=late, until=START + 20 * WINDOW)
        assert len(handed) == len(jobs)
        windows.append([int((handed[j] - START) / WINDOW) for j in jobs])
        if late == 0.0:
            prompt.client.flushdb()
            prompt.at(START)
            jobs = [prompt.submit("a", images=n) for n in sizes]
            view = prompt.scheduler._read("karlo", "a", None)
            replayed = [replay_start(view, r, limit=10, span=WINDOW, others=0, fill_lag=0, lag=0) for r in range(24)]
            assert [int((t - START) / WINDOW) for t in replayed] == windows[0]
    assert all(w == windows[0] for w in windows), windows
    per_window = Counter(w for w, n in zip(windows[0], sizes, strict=True) for _ in range(n))
    assert min(per_window[k] for k in range(max(windows[0]))) >= 9  # every window but the last filled


def test_a_step_between_two_calls_releases_lets_no_filler_pass_until_they_are_over(prompt: Rig) -> None:
    # three jobs called 10 ms apart hold the whole window; steps come between their releases
    first = [prompt.submit("a", images=n) for n in (4, 3, 3)]
    assert prompt.dispatch() == first
    for k, job_id in enumerate(first):
        prompt.at(START + 0.01 * k)
        assert prompt.quota.restamp(f"{job_id}:d1")
    j1, head, pair, _one = (prompt.submit("a", images=n) for n in (4, 4, 2, 1))
    view = prompt.scheduler._read("karlo", "a", None)
    replayed = [replay_start(view, r, limit=10, span=WINDOW, others=0, fill_lag=0, lag=0) for r in range(4)]
    assert prompt.dispatch() == []
    prompt.at(START + WINDOW + 0.005)  # the 4 called first are free
    assert prompt.dispatch() == [j1]
    prompt.at(START + WINDOW + 0.015)  # 3 free, the head needs 4: the 2 and the 1 fit, but 3 more free at 0.02
    step = prompt.scheduler.dispatch("karlo")
    assert step.handed == [] and step.wake_at == pytest.approx(START + WINDOW + 0.02)
    prompt.at(START + WINDOW + 0.02)
    assert prompt.dispatch() == [head, pair]  # in order, as a step after all three releases hands them out
    assert prompt.dispatch() == []  # the 1 waits for the next window
    # the replay has the same jobs in each window (it steps at the releases themselves)
    assert replayed[:3] == pytest.approx([START + WINDOW, START + WINDOW + 0.02, START + WINDOW + 0.02])
    assert replayed[3] > START + 2 * WINDOW


def test_the_replay_picks_what_the_dispatch_step_hands_out_on_random_logs_and_queues(services: Services) -> None:
    # the filler rule (gate, fit times on the log's releases, read in pages) in Lua and in the replay's _pick:
    # on 300 random minute logs (up to 40 entries) and queues of 1-8 image jobs, the same next job, or none
    rig = next(make_rig(services, quota_per_minute=24))
    scope = upstream_scope(rig.settings).name
    limits = fill_limits(WINDOW * FILL_TOLERANCE_SHARE)
    chance = random.Random(13)
    moment = START + 3600
    agreed = Counter[str]()
    for _ in range(300):
        rig.client.flushdb()
        rig.at(moment)
        # spread over the window, or in a few bursts (calls a few ms to a second apart)
        bursts = [moment - chance.uniform(0.0, WINDOW - 1) for _ in range(chance.randint(1, 3))]
        entries = [
            (chance.randint(1, 3), moment - chance.uniform(0.0, WINDOW))
            if len(bursts) == 1
            else (chance.randint(1, 6), chance.choice(bursts) + chance.uniform(0.0, 1.0))
            for _ in range(chance.randint(1, 40))
        ]
        held, used = [], 0
        for k, (images, at) in enumerate(entries):
            if used + images > 24:
                break
            used += images
            held.append((at + WINDOW, float(images)))
            rig.client.zadd(keys.quota_minute(scope), {f"r{k}:{images}": at})
        rig.client.set(keys.quota_minute_total(scope), used)
        sizes = [chance.randint(1, 8) for _ in range(chance.randint(1, 12))]
        jobs = [rig.submit("a", images=n) for n in sizes]
        queue = [_Queued(job_id, n, 0.0) for job_id, n in zip(jobs, sizes, strict=True)]
        index = _pick(
            queue,
            24 - used,
            moment,
            _Head(None, None),
            limit=24,
            span=WINDOW,
            fill=True,
            held=held,
            hold=WINDOW,
            limits=limits,
        )
        handed = rig.dispatch(limit=1)
        assert handed == ([] if index is None else [jobs[index]]), (entries, sizes)
        agreed["none" if index is None else "first" if index == 0 else "passed"] += 1
    assert agreed["passed"] >= 10 and agreed["none"] >= 10, agreed  # both outcomes of the filler rule seen
    rig.client.close()


@pytest.mark.parametrize(("b_count", "c_count"), [(13, 10), (11, 11), (15, 11), (9, 14), (7, 2)])
def test_the_estimate_behind_two_other_tenants_is_the_window_their_virtual_tags_give(
    prompt: Rig, b_count: int, c_count: int
) -> None:
    # A's backlog holds the window when B (weight 1) and C (weight 2) queue one-image jobs side by side; C's run
    # out first, then A and B share. Each of B's jobs goes once every image ahead of it by the virtual tags
    # (equal tags by name) has been handed out: no part of a window is left idle for a fraction of an image of
    # B's part (its tag gives it back at a later release), and the estimate shows that very window
    prompt.plans.set("c", {"weight": "2"})
    a_jobs = [prompt.submit("a") for _ in range(60)]
    assert len(prompt.dispatch()) == 10
    b_jobs, c_jobs = [], []
    for i in range(max(b_count, c_count)):
        if i < b_count:
            b_jobs.append(prompt.submit("b"))
        if i < c_count:
            c_jobs.append(prompt.submit("c"))
    shown = {}
    for job_id in b_jobs:
        place = prompt.scheduler.place(prompt.store.get(job_id))  # type: ignore[arg-type]
        assert place is not None and place.estimated_start_at is not None
        shown[job_id] = place.estimated_start_at
    handed = _hand_out_times(prompt, [*a_jobs, *b_jobs, *c_jobs], START + 20 * WINDOW)
    assert handed[b_jobs[-1]] >= START + 2 * WINDOW
    assert shown == {job_id: handed[job_id] for job_id in b_jobs}
