"""The fair scheduler: per-tenant queues in Redis, handed out to Celery by one atomic step
(``lua/sched_dispatch.lua``) in weighted-fair order, as far as capacity allows.

Capacity is the quota for hosted Karlo (the step reserves each job's images, upstream and in the tenant's
plan, before handing it out) and slots for a local backend. Celery's queue stays shallow: it holds only what
can run now, in the order decided here. A job is in its tenant queue, or handed out with a dispatch deadline
(the sweeper resends a message lost after the step), or finished: never two of these.

Dispatch runs after every accept, after a settle in a worker that can hand out something new
(``karlo_worker.dispatching``), and on each worker's tick, which wakes when quota next frees up.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import redis
from celery import Celery

from karlo_core import keys, lua
from karlo_core.backends.catalogue import KARLO, backend_queue
from karlo_core.jobs import Job, JobStatus
from karlo_core.jobstore import JobStore
from karlo_core.local_eta import LocalEta
from karlo_core.metrics import JOB_TIME_TO_START_SECONDS, QUOTA_RESERVATIONS
from karlo_core.plans import Plan, Plans
from karlo_core.queue import RUN_JOB_TASK, enqueue_job
from karlo_core.quota.buckets import RECORD_TTL_SECONDS, QuotaBuckets
from karlo_core.quota.policy import scopes_for, share_name, upstream_scope
from karlo_core.quota.windows import CalendarWindow, day_window, month_window
from karlo_core.redis_client import broker_is_store
from karlo_core.settings import Settings

log = logging.getLogger(__name__)

#: Tenants, and jobs of each, one dispatch decision looks at (bounds a step's cost whatever the backlog).
SCAN_TENANTS = 16
SCAN_JOBS = 16
#: Tenants looked at when estimating a job's overall position.
ESTIMATE_TENANTS = 200
#: A tenant's queued jobs whose real image counts the estimate replays; a job further back is estimated from
#: the replay's end plus full windows for the tenant's average job size beyond these.
ESTIMATE_JOBS = 500
#: Seconds after images free up for the first waiting job that a dispatch step is expected to run: the step
#: names that moment as its wake time and the workers' ticks wake for it at a quarter-second poll (the first
#: of several workers' comes sooner); a settle may bring one sooner still.
DISPATCH_LAG = 0.1
#: Seconds after images free up that a step may come when they fit only a later, smaller job than the first
#: waiting: no tick wakes for that moment, so a settle or a worker's periodic tick brings the step, at a moment
#: the estimate cannot know.
FILL_LAG = 0.3
#: The estimate replays each pair of these (a prompt step sooner or later, a filling step soon or late) and
#: shows the middle of the starts they give: whether a job fills a remainder, or is passed by ones that do,
#: turns on steps and releases hundredths of a second apart. Set from 1,670 queue reads recorded in fourteen
#: 53-job order runs, replayed offline against the jobs' real starts: 4 more than a window off with these, 10
#: with one prompt lag (0.1 s) and two filling ones, 20 with prompt lags of 0.05 and 0.3 s, 28 with the
#: earlier of one in-order and one filled replay.
DISPATCH_LAGS = (0.02, 0.2)
FILL_LAGS = (0.05, 0.3, 0.8)
#: A job that fits may pass waiting jobs ahead of it only when taking it now moves none of their fit times later
#: by more than this share of the minute window (``lua/sched_step.lua``'s fill tolerance): a delay within the
#: burst of releases they wait for, not a window.
FILL_TOLERANCE_SHARE = 0.25
#: ... and only when no image frees up within the tolerance, at most this many seconds (the fill gate): the
#: releases of one burst come a few ms to a few tenths of a second apart, whatever the window (3.25 s windows:
#: 0.81 s); a longer gate would leave freed images idle longer.
FILL_GATE_MAX_SECONDS = 1.0
#: Virtual tags closer than this are equal (the step writes them with six decimals).
TAG_EPSILON = 1e-6
#: Steps the replay takes at most (each is one dispatch at a moment the minute log frees images).
REPLAY_STEPS = 5000


def fill_limits(tolerance: float) -> tuple[float, float]:
    """The fill tolerance and the fill gate for a tolerance of ``tolerance`` seconds (by default
    ``FILL_TOLERANCE_SHARE`` of the minute window): the gate is as long, at most ``FILL_GATE_MAX_SECONDS``."""
    return tolerance, min(tolerance, FILL_GATE_MAX_SECONDS)


@dataclass(frozen=True)
class Handed:
    """A job the scheduler handed out: its id, priority, and seconds it waited in its tenant queue."""

    job_id: str
    priority: str
    waited: float


@dataclass(frozen=True)
class DispatchStep:
    backend: str
    handed: list[Handed]
    #: Redis time of the step, and when capacity is next expected to free up (None: not known).
    at: float
    wake_at: float | None
    #: The step pushed the Celery messages of the jobs it handed out itself (else the caller sends them).
    pushed: bool = False


def step_from_reply(backend: str, reply: Sequence[str]) -> DispatchStep:
    """A dispatch step from its script's reply: outcome, Redis time, wake time, pushed flag, then per job
    handed out its id, priority and seconds waited."""
    flat = reply[4:]
    handed = [Handed(flat[i], flat[i + 1], float(flat[i + 2])) for i in range(0, len(flat), 3)]
    return DispatchStep(backend, handed, float(reply[1]), float(reply[2]) if reply[2] else None, reply[3] == "1")


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued job stands: among its tenant's jobs and among all (1 = next), and when it should start."""

    tenant: int
    overall: int
    estimated_start_at: float | None


@dataclass(frozen=True)
class TenantBacklog:
    images: int
    jobs: int
    #: When the tenant's queued images are expected to have been handed out (None: nothing queued).
    drained_at: float | None


@dataclass(frozen=True)
class _Queued:
    job_id: str
    images: int
    run_after: float


@dataclass(frozen=True)
class _Entry:
    """A minute-log entry: its images, its time in the log, and when it was handed out (the same time until
    the worker's call moves it to the call's moment)."""

    images: int
    at: float
    sent: float


@dataclass(frozen=True)
class _Other:
    """Another active tenant of the backend: its virtual tag, queued jobs and images, and weight."""

    tenant: str
    tag: float
    jobs: int
    images: int
    weight: float


@dataclass(frozen=True)
class _QueueView:
    backend: str
    now: float
    rank: int | None
    jobs: list[_Queued]
    total_jobs: int
    total_images: int
    log: list[_Entry]
    head: str | None
    head_since: float | None
    blocked: float
    #: The tenant's virtual tag (None: not active) and plan; the other active tenants by tag.
    tag: float | None = None
    plan: Plan | None = None
    others: tuple[_Other, ...] = ()
    #: Images taken in the current day and month, upstream and from the tenant's share; those windows' ends.
    calendar_used: tuple[tuple[int, int], ...] = ()
    calendar_ends: tuple[float, float] = (0.0, 0.0)

    def images_ahead(self, jobs: int) -> int:
        """Images of the first ``jobs`` queued jobs: real ones as far as read, the average of the rest beyond."""
        read = self.jobs[:jobs]
        known = sum(job.images for job in read)
        unread_jobs = self.total_jobs - len(self.jobs)
        if jobs <= len(self.jobs) or unread_jobs <= 0:
            return known
        unread_images = max(self.total_images - sum(job.images for job in self.jobs), 0)
        return known + round((jobs - len(self.jobs)) * unread_images / unread_jobs)


def call_delay(log: Sequence[_Entry]) -> float:
    """The mean time from hand-out to upstream call over the minute log's entries already called (the call
    moves an entry to its moment, so a window really lasts the span plus this); 0 when none was called yet."""
    delays = [entry.at - entry.sent for entry in log if entry.at - entry.sent > 1e-4]
    return sum(delays) / len(delays) if delays else 0.0


def _view_from_reply(backend: str, reply: Sequence[str], plans: Plans, ends: tuple[float, float]) -> _QueueView:
    """A queue view from ``lua/sched_place.lua``'s reply (its layout is described there)."""
    now, rank, total_jobs, total_images, blocked, head, head_since, tag = reply[:8]
    used = [int(v) for v in reply[8:12]]
    at = 13 + int(reply[12])
    raw_plan = dict(zip(reply[13:at:2], reply[14:at:2], strict=True))
    count = int(reply[at])
    rows = reply[at + 1 : at + 1 + 3 * count]
    jobs = [_Queued(rows[i], int(rows[i + 1]), float(rows[i + 2])) for i in range(0, len(rows), 3)]
    at += 1 + 3 * count
    count = int(reply[at])
    rows = reply[at + 1 : at + 1 + 3 * count]
    log = [_Entry(int(rows[i]), float(rows[i + 1]), float(rows[i + 2])) for i in range(0, len(rows), 3)]
    at += 1 + 3 * count
    count = int(reply[at])
    rows = reply[at + 1 : at + 1 + 5 * count]
    default_weight = plans.parse({}).weight
    others = tuple(
        _Other(rows[i], float(rows[i + 1]), int(rows[i + 2]), int(rows[i + 3]), float(rows[i + 4] or default_weight))
        for i in range(0, len(rows), 5)
    )
    return _QueueView(
        backend=backend,
        now=float(now),
        rank=int(rank) if rank else None,
        jobs=jobs,
        total_jobs=int(total_jobs),
        total_images=int(total_images),
        log=log,
        head=head or None,
        head_since=float(head_since) if head_since else None,
        blocked=float(blocked),
        tag=float(tag) if tag else None,
        plan=plans.parse(raw_plan),
        others=others,
        calendar_used=((used[0], used[1]), (used[2], used[3])),
        calendar_ends=ends,
    )


@dataclass
class _Head:
    """The blocked head job of the replayed queue, and since when it has been blocked (the step's record)."""

    job_id: str | None
    since: float | None


def fit_times(
    held: Sequence[tuple[float, float]], limit: float, t: float, hold: float, passed: Sequence[int], extra: float
) -> list[float]:
    """When each of the waiting jobs ``passed`` (their images, in queue order) is expected to fit, replayed in
    order on the minute log's releases ``held`` ((release time, images), those after ``t`` counting) with
    ``extra`` images taken at ``t``: each at the first moment the images still held leave room for it, then held
    ``hold`` seconds from that moment; ``math.inf`` for one that never fits. As ``lua/sched_step.lua``'s
    ``sched_fit_times``."""
    releases = sorted(h for h in held if h[0] > t)
    count = sum(images for _, images in releases) + extra
    added: list[tuple[float, float]] = [(t + hold, extra)] if extra > 0 else []
    out: list[float] = []
    i = j = 0
    at = t
    for images in passed:
        while count + images > limit + 1e-9 and at != math.inf:
            if i < len(releases) and (j >= len(added) or releases[i][0] <= added[j][0]):
                release = releases[i]
                i += 1
            elif j < len(added):
                release = added[j]
                j += 1
            else:
                at = math.inf
                break
            count -= release[1]
            at = max(at, release[0])
        out.append(at)
        count += images
        added.append((at + hold, float(images)))
    return out


def _on_time(
    held: Sequence[tuple[float, float]],
    limit: float,
    t: float,
    hold: float,
    passed: Sequence[int],
    images: int,
    limits: tuple[float, float],
) -> bool:
    """Whether a job of ``images`` that fits at ``t`` may pass the waiting jobs ``passed``: no image frees up
    within the gate (fillers wait for a burst of releases to end) and taking it keeps every passed job's fit
    time within the tolerance of what it is now (``limits``: the tolerance and the gate, seconds)."""
    if not passed:
        return True
    tol, gate = limits
    if any(t < release <= t + gate for release, _ in held):
        return False
    before = fit_times(held, limit, t, hold, passed, 0)
    after = fit_times(held, limit, t, hold, passed, images)
    return all(a <= b + tol for a, b in zip(after, before, strict=True))


def _pick(
    queue: Sequence[_Queued],
    free: float,
    t: float,
    head: _Head,
    *,
    limit: int,
    span: float,
    fill: bool,
    held: Sequence[tuple[float, float]] = (),
    hold: float = 0.0,
    limits: tuple[float, float] = (math.inf, 0.0),
) -> int | None:
    """The index of the job ``lua/sched_dispatch.lua`` hands out next at ``t`` with ``free`` images, or None:
    the first that fits among the first ``SCAN_JOBS``; past a head that does not, later ones fill what is left
    (with ``fill``) until the head has been blocked ``span``, each only when no image frees up within the
    gate and taking it moves no waiting job it passes later by more than the tolerance (``limits``:
    tolerance, gate; ``fit_times`` on the releases ``held``, taken images held ``hold``); one that would
    waits after them. Updates the head's record as the step does."""
    blocked = False
    passed: list[int] = []
    held_back = math.inf  # the fewest images of a job that fits held back (more would delay as much)
    for i, job in enumerate(queue[:SCAN_JOBS]):
        if job.run_after > t:
            continue
        goes = job.images > limit or (  # too large: handed out to be refused
            job.images <= free + 1e-9
            and job.images < held_back
            and _on_time(held, limit, t, hold, passed, job.images, limits)
        )
        if goes:
            if not blocked:
                head.job_id = None
            return i
        passed.append(job.images)
        if job.images <= free + 1e-9:  # it fits, but would delay a job it passes: it waits after them
            held_back = min(held_back, job.images)
            continue
        if not blocked:
            blocked = True
            if _held_past_bound(head, job.job_id, t, span):
                return None
        if free < 1 or not fill:
            return None
    return None


def _held_past_bound(head: _Head, job_id: str, t: float, span: float) -> bool:
    """Records ``job_id`` as the blocked head (since ``t`` when it is new there); whether it has been blocked
    ``span`` or longer, so that nothing passes it."""
    if head.job_id != job_id:
        head.job_id, head.since = job_id, t
    return t - (head.since if head.since is not None else t) >= span


def _next_step(
    held: Sequence[tuple[float, float]],
    queue: Sequence[_Queued],
    free: float,
    t: float,
    *,
    lag: float,
    fill_lag: float | None,
) -> float | None:
    """When the replay's next dispatch step runs after ``t``: ``lag`` after the minute log frees enough for the
    first job that may go (the step names that moment as its wake time, and the workers' ticks wake for it) or
    after a retry's backoff ends; with ``fill_lag``, that long after the log next frees any image, for a later,
    smaller job to fill (a step comes with a settle or a periodic tick). None when nothing frees and no backoff
    ends."""
    ready = [job for job in queue if job.run_after <= t]
    moments = [job.run_after + lag for job in queue if job.run_after > t]
    freed = free
    for i, (release, images) in enumerate(sorted(h for h in held if h[0] > t)):
        if fill_lag is not None and i == 0:
            moments.append(release + fill_lag)
        freed += images
        if ready and freed >= ready[0].images - 1e-9:
            moments.append(release + lag)
            break
    return min(moments) if moments else None


def replay_start(
    view: _QueueView,
    rank: int,
    *,
    limit: int,
    span: float,
    others: float,
    fill_lag: float | None = FILL_LAG,
    lag: float = DISPATCH_LAG,
    tolerance: float | None = None,
) -> float:
    """When the tenant's ``rank``-th queued job (0 = next) is expected to be handed out, by replaying
    ``lua/sched_dispatch.lua``'s rule (``_pick``) over its queue with the jobs' real images: a dispatch at now, then at
    the moments ``_next_step`` names for ``lag`` and ``fill_lag`` as the minute log frees images (an entry leaves
    ``span`` after its call; one not called yet is expected the measured call delay after its hand-out). Without
    ``fill_lag`` (None), strictly in order. The tenant's part of the images freed at each dispatch is in proportion to
    its images against the ``others`` images ``Scheduler._ahead_elsewhere`` expects ahead of the job, and other tenants
    take the rest: a part its next job does not fit yet stays its own (as the virtual tags keep its turn), held free for
    that job once it is a whole image or more, while a fraction of an image goes to the others' whole images now
    (leaving none idle), and while others have work, a step comes promptly after every release (some tenant's job fits).
    Beyond the jobs read, full windows at the tenant's share for the average size of the rest. A filler passes waiting
    jobs only once no image frees up within the fill gate and within ``tolerance`` of their fit times (by default the
    dispatcher's: ``FILL_TOLERANCE_SHARE`` of ``span``; the gate is as long, at most ``FILL_GATE_MAX_SECONDS``)."""
    limits = fill_limits(span * FILL_TOLERANCE_SHARE if tolerance is None else tolerance)
    delay = call_delay(view.log)
    t = max(view.now, view.blocked)
    held = [((e.at if e.at - e.sent > 1e-4 else e.sent + delay) + span, float(e.images)) for e in view.log]
    queue = list(view.jobs)
    target = queue[rank].job_id if rank < len(queue) else None
    mine = view.images_ahead(rank + 1)
    share_others = others / (others + mine) if others > 0 and mine > 0 else 0.0
    others_left = others
    credit = 0.0  # the tenant's part of the images freed so far that its jobs have not taken
    unclaimed = 0.0  # images left free after the last step (not freed since)
    head = _Head(view.head, view.head_since)
    for _ in range(REPLAY_STEPS):
        held = [h for h in held if h[0] > t]
        total_free = limit - sum(images for _, images in held)
        sharing = others_left > 0
        if sharing:
            credit += max(total_free - unclaimed, 0.0) * (1 - share_others)
        free = min(credit, total_free) if sharing else total_free
        fill = fill_lag is not None
        while (
            queue
            and (
                pick := _pick(
                    queue, free, t, head, limit=limit, span=span, fill=fill, held=held, hold=span + delay, limits=limits
                )
            )
            is not None
        ):
            job = queue.pop(pick)
            if job.images <= limit:
                held.append((t + delay + span, float(job.images)))
                free -= job.images
                total_free -= job.images
                credit = max(credit - job.images, 0.0)
            if job.job_id == target:
                return t
        if not queue:
            break
        if sharing:
            # the others take the rest: a fraction of an image of the tenant's part goes to their whole images
            # now (its credit, as its virtual tag, gives it back at a later release); a whole image or more
            # waits for its next job, which needs more (the fill rule keeps images for a blocked head)
            keep = min(credit, total_free) if credit >= 1 else 0.0
            take = min(others_left, max(total_free - keep, 0.0))
            others_left -= take
            held.append((t + delay + span, take))
            total_free -= take
        unclaimed = total_free
        step = _next_step(held, queue, free, t, lag=lag, fill_lag=lag if others_left > 0 else fill_lag)
        t = step if step is not None else t + span
    beyond = view.images_ahead(rank + 1) - sum(job.images for job in view.jobs)
    per_window = limit * (1 - share_others)
    return t + math.ceil(max(beyond, 0) / per_window) * (span + delay + lag)


class Scheduler:
    def __init__(self, client: redis.Redis, settings: Settings, quota: QuotaBuckets) -> None:
        self._redis = client
        self._settings = settings
        self._quota = quota
        self._plans = Plans(client, settings)
        self._local = LocalEta(client, settings)
        self._tz = ZoneInfo(settings.quota_timezone)
        self._window = settings.quota_minute_window_seconds + settings.quota_window_guard_seconds
        self._dispatch = client.register_script(lua.load("sched_dispatch"))
        self._place_read = client.register_script(lua.load("sched_place"))
        #: The broker is this Redis: a step pushes the Celery messages of what it hands out itself.
        self._push = broker_is_store(settings)
        # as Celery names an anonymous sender (no spaces: the accept script gets it in a space-separated string)
        self._origin = f"gen{os.getpid()}@{socket.gethostname()}".replace(" ", "-")
        self._clock_offset = 0.0

    def dispatch(self, backend: str, *, limit: int | None = None) -> DispatchStep:
        """One atomic step: hand out up to ``limit`` jobs of ``backend`` in fair order, within capacity."""
        now = time.time() + self._clock_offset
        for _ in range(3):
            day, month = day_window(now, self._tz), month_window(now, self._tz)
            keys_, args = self.step_call(backend, day, month, limit=limit)
            reply = self._dispatch(keys=keys_, args=args)
            outcome, at = str(reply[0]), float(reply[1])
            if outcome == "stale":
                now = at
                self._clock_offset = at - time.time()
                continue
            self._clock_offset = (at if outcome == "ok" else now) - time.time()
            return step_from_reply(backend, [str(v) for v in reply])
        raise RuntimeError("quota windows kept moving while dispatching")

    def step_call(
        self, backend: str, day: CalendarWindow, month: CalendarWindow, *, limit: int | None = None
    ) -> tuple[list[str], list[str | int | float]]:
        """The keys and arguments of one dispatch step (``lua/sched_step.lua``) in these calendar windows."""
        s = self._settings
        upstream = upstream_scope(s)
        step_keys = [
            keys.quota_clock(),
            keys.quota_blocked(),
            keys.job_deadlines(),
            keys.webhook_schedule(),
            keys.quota_minute(upstream.name),
            keys.quota_minute_total(upstream.name),
            keys.quota_window(upstream.name, "day", day.label),
            keys.quota_window(upstream.name, "month", month.label),
            keys.backend_workers(backend),
            backend_queue(backend),
        ]
        args: list[str | int | float] = [
            backend,
            limit or s.dispatch_batch,
            "quota" if backend == KARLO else "slots",
            self._window,
            day.start,
            day.end,
            month.start,
            month.end,
            day.label,
            month.label,
            "1" if s.quota_test_clock else "0",
            RECORD_TTL_SECONDS,
            upstream.limits.per_minute,
            upstream.limits.per_day,
            upstream.limits.per_month,
            s.tenant_weight,
            s.tenant_quota_per_minute,
            s.tenant_quota_per_day,
            s.tenant_quota_per_month,
            s.dispatch_confirm_seconds,
            self._window,
            s.local_backend_slots,
            s.worker_heartbeat_max_age_seconds,
            SCAN_TENANTS,
            SCAN_JOBS,
            "1" if self._push else "0",
            RUN_JOB_TASK,
            self._origin,
            s.dispatch_grace_seconds,
            *fill_limits(self._window * FILL_TOLERANCE_SHARE),
        ]
        return step_keys, args

    def place(self, job: Job) -> QueuePlace | None:
        """The place of a job in its tenant queue, or None when it is not there (handed out or finished)."""
        view = self._read(job.backend, job.tenant, job.id)
        if view.rank is None:
            return None
        rank = view.rank
        mine = view.images_ahead(rank + 1)
        others, others_images = self._ahead_elsewhere(view, job.tenant, mine)
        eta = self._eta(view, job.tenant, rank, mine, others_images)
        return QueuePlace(tenant=rank + 1, overall=rank + 1 + others, estimated_start_at=eta)

    def backlog(self, backend: str, tenant: str) -> TenantBacklog:
        view = self._read(backend, tenant, None)
        if view.total_jobs == 0:
            return TenantBacklog(0, 0, None)
        _, others_images = self._ahead_elsewhere(view, tenant, view.total_images)
        eta = self._eta(view, tenant, view.total_jobs - 1, view.total_images, others_images)
        return TenantBacklog(view.total_images, view.total_jobs, eta)

    def _read(self, backend: str, tenant: str, job_id: str | None) -> _QueueView:
        """What the estimate replays and the position counts, in one round trip (``lua/sched_place.lua``): the
        job's rank, the first ``ESTIMATE_JOBS`` queued jobs with their images, the upstream minute log with each
        entry's hand-out time, the blocked head, Karlo's blocked-until, the tenant's plan and its day and month
        counters, and the other active tenants by virtual tag. The calendar windows are those of the last time
        a script read; read again in the right ones when the day or month turned meanwhile."""
        upstream, share = upstream_scope(self._settings).name, share_name(tenant)
        now = self._quota.guess_now()
        for _ in range(3):
            day, month = self._quota.windows(now)
            counters = [
                keys.quota_window(scope, window.name, window.label)
                for scope in (upstream, share)
                for window in (day, month)
            ]
            reply = self._place_read(
                keys=[
                    keys.quota_clock(),
                    keys.quota_blocked(),
                    keys.quota_minute(upstream),
                    keys.sched_queue(backend, tenant),
                    keys.sched_images(backend),
                    keys.sched_head(backend),
                    keys.sched_tenants(backend),
                    keys.plan(tenant),
                    *counters,
                ],
                args=[backend, tenant, job_id or "", ESTIMATE_JOBS, ESTIMATE_TENANTS + 1, self._quota.override],
            )
            now = self._quota.learn_clock(float(reply[0]))
            if day.start <= now < day.end and month.start <= now < month.end:
                return _view_from_reply(backend, [str(v) for v in reply], self._plans, (day.end, month.end))
        raise RuntimeError("quota windows kept moving while reading a queue place")

    def _ahead_elsewhere(self, view: _QueueView, tenant: str, images: int) -> tuple[int, float]:
        """Jobs and images of other tenants expected to be handed out before a tenant's next ``images`` images
        are, by their virtual tags: the dispatcher hands out the tenant with the smallest tag (equal tags by
        name, as the active set orders them) and moves its tag on by the images over its weight, so another
        tenant gets an image for each 1 / weight of virtual time before the last of them starts (the one at
        that very tag too when its name comes first), at most what it has."""
        if view.tag is None or view.plan is None:
            return 0, 0.0
        target = view.tag + max(images - 1, 0) / view.plan.weight
        ahead_jobs, ahead_images = 0, 0.0
        for other in view.others:
            first = other.tenant < tenant
            gap = (target - other.tag) * other.weight
            if gap < -TAG_EPSILON or (gap <= TAG_EPSILON and not first):
                break
            if not other.jobs or not other.images:
                continue
            turns = math.floor(gap + TAG_EPSILON) + 1 if first else math.ceil(gap - TAG_EPSILON)
            share = float(min(other.images, turns))
            ahead_images += share
            ahead_jobs += math.ceil(share * other.jobs / other.images)
        return ahead_jobs, ahead_images

    def _eta(self, view: _QueueView, tenant: str, rank: int, mine: int, others: float) -> float | None:
        """When the tenant's ``rank``-th queued job (0 = next) is expected to be handed out: the dispatcher's
        rule replayed over the minute windows (``replay_start``) with steps coming sooner and later after images
        free up (``DISPATCH_LAGS`` and ``FILL_LAGS``): the middle of the earliest and the latest start they give
        (the job goes about as one of them has it, and the middle is within a window of both while they differ
        by less than two); then, where the day or month window of the upstream quota or
        of the tenant's plan cannot hold its ``mine`` images (``others`` more upstream), that window's end;
        never before Karlo's blocked-until."""
        if view.backend != KARLO:  # a local backend: its slots and measured pace (karlo_core.local_eta)
            return self._local.start_at(view.backend, jobs=rank, images=view.images_ahead(rank), others=others)
        scopes = scopes_for(self._settings, tenant, view.plan)
        limit = min(scope.limits.per_minute for scope in scopes)  # a plan's own minute limit, on the upstream log
        starts = [
            replay_start(view, rank, limit=limit, span=self._window, others=others, fill_lag=fill_lag, lag=lag)
            for lag in DISPATCH_LAGS
            for fill_lag in FILL_LAGS
        ]
        eta = (min(starts) + max(starts)) / 2
        totals = (mine + others, mine)
        for scope, images, used in zip(scopes, totals, view.calendar_used, strict=False):
            limits = (scope.limits.per_day, scope.limits.per_month)
            for window_limit, window_used, resets_at in zip(limits, used, view.calendar_ends, strict=True):
                if images > max(window_limit - window_used, 0):
                    eta = max(eta, resets_at)
        return max(eta, view.blocked)


@dataclass(frozen=True)
class Dispatched:
    steps: list[DispatchStep]
    #: Jobs handed out whose message could not be sent (the broker is down): the sweeper resends them once
    #: their dispatch deadline passes.
    unsent: set[str]

    @property
    def wake_at(self) -> float | None:
        """The earliest moment capacity is expected to free up for any backend."""
        wakes = [step.wake_at for step in self.steps if step.wake_at is not None]
        return min(wakes) if wakes else None


def dispatch_and_send(
    scheduler: Scheduler, store: JobStore, celery: Celery, backends: Sequence[str], *, grace: float
) -> Dispatched:
    """Dispatch each backend and send the Celery message of every job handed out. A send that fails is
    retried by the sweeper once the job's dispatch deadline passes, so nothing is lost here."""
    steps: list[DispatchStep] = []
    for backend in backends:
        steps.append(scheduler.dispatch(backend))
    return send_handed(steps, store, celery, grace=grace)


def send_handed(steps: Sequence[DispatchStep], store: JobStore, celery: Celery, *, grace: float) -> Dispatched:
    """Send the Celery message of every job these steps handed out, unless a step pushed them itself."""
    unsent = set()
    for step in steps:
        for handed in step.handed:
            if step.pushed:
                JOB_TIME_TO_START_SECONDS.labels(handed.priority).observe(handed.waited)
                continue
            try:
                enqueue_job(celery, handed.job_id, queue=backend_queue(step.backend))
            except Exception:
                log.warning("sending a dispatched job failed; the sweeper resends it", extra={"job_id": handed.job_id})
                unsent.add(handed.job_id)
                continue
            store.dispatched(handed.job_id, grace=grace, since=step.at)
            JOB_TIME_TO_START_SECONDS.labels(handed.priority).observe(handed.waited)
        if step.backend == KARLO and step.wake_at is not None:  # a job found no quota and waits in its queue
            QUOTA_RESERVATIONS.labels("denied").inc()
    return Dispatched(list(steps), unsent)


def queued_statuses() -> tuple[JobStatus, ...]:
    """Statuses in which a job may stand in its tenant queue."""
    return (JobStatus.QUEUED, JobStatus.WAITING_FOR_QUOTA)
