"""The fair scheduler: per-tenant queues in Redis, handed out to Celery by one atomic step
(``lua/sched_dispatch.lua``) in weighted-fair order, as far as capacity allows.

Capacity is the quota for hosted Karlo (the step reserves each job's images, upstream and in the tenant's
plan, before handing it out) and slots for a local backend. Celery's queue stays shallow: it holds only what
can run now, in the order decided here. A job is in its tenant queue, or handed out with a dispatch deadline
(the sweeper resends a message lost after the step), or finished: never two of these.

Dispatch runs after every accept, after every settle in a worker, and on each worker's tick, which wakes when
quota next frees up.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from zoneinfo import ZoneInfo

import redis
from celery import Celery

from karlo_core import keys, lua
from karlo_core.backends.catalogue import KARLO, backend_queue
from karlo_core.jobs import Job, JobStatus
from karlo_core.jobstore import JobStore
from karlo_core.metrics import JOB_TIME_TO_START_SECONDS, QUOTA_RESERVATIONS
from karlo_core.plans import Plans
from karlo_core.queue import RUN_JOB_TASK, enqueue_job
from karlo_core.quota.buckets import RECORD_TTL_SECONDS, QuotaBuckets
from karlo_core.quota.policy import scopes_for, upstream_scope
from karlo_core.quota.windows import CalendarWindow, day_window, month_window
from karlo_core.redis_client import broker_is_store
from karlo_core.settings import Settings

log = logging.getLogger(__name__)

#: Tenants, and jobs of each, one dispatch decision looks at (bounds a step's cost whatever the backlog).
SCAN_TENANTS = 16
SCAN_JOBS = 16
#: Tenants looked at when estimating a job's overall position.
ESTIMATE_TENANTS = 200


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


class Scheduler:
    def __init__(self, client: redis.Redis, settings: Settings, quota: QuotaBuckets) -> None:
        self._redis = client
        self._settings = settings
        self._quota = quota
        self._plans = Plans(client, settings)
        self._tz = ZoneInfo(settings.quota_timezone)
        self._window = settings.quota_minute_window_seconds + settings.quota_window_guard_seconds
        self._dispatch = client.register_script(lua.load("sched_dispatch"))
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
        ]
        return step_keys, args

    def place(self, job: Job) -> QueuePlace | None:
        """The place of a job in its tenant queue, or None when it is not there (handed out or finished)."""
        queue = keys.sched_queue(job.backend, job.tenant)
        found = self._redis.zrank(queue, job.id)
        if found is None:
            return None
        rank = int(cast(int, found))
        others, others_images = self._ahead_elsewhere(job.backend, job.tenant, rank + 1)
        mine = self._backlog_images(job.backend, job.tenant, rank + 1)
        eta = self._eta(job.backend, job.tenant, mine, mine + others_images)
        return QueuePlace(tenant=rank + 1, overall=rank + 1 + others, estimated_start_at=eta)

    def backlog(self, backend: str, tenant: str) -> TenantBacklog:
        jobs = int(self._redis.zcard(keys.sched_queue(backend, tenant)))
        images = int(self._redis.hget(keys.sched_images(backend), tenant) or 0)
        if jobs == 0:
            return TenantBacklog(0, 0, None)
        _, others_images = self._ahead_elsewhere(backend, tenant, jobs)
        return TenantBacklog(images, jobs, self._eta(backend, tenant, images, images + others_images))

    def _backlog_images(self, backend: str, tenant: str, jobs: int) -> float:
        """Images of a tenant's first ``jobs`` queued jobs, from its average job size."""
        total = int(self._redis.zcard(keys.sched_queue(backend, tenant)))
        images = int(self._redis.hget(keys.sched_images(backend), tenant) or 0)
        return jobs * images / total if total else 0.0

    def _ahead_elsewhere(self, backend: str, tenant: str, jobs: int) -> tuple[int, float]:
        """Jobs and images of other tenants expected to be handed out before a tenant's ``jobs``-th job, by
        their virtual tags: each gets (virtual time until then) x (its weight) images, at most what it has."""
        tenants_key = keys.sched_tenants(backend)
        my_tag = self._redis.zscore(tenants_key, tenant)
        if my_tag is None:
            return 0, 0.0
        weight = self._plans.get(tenant).weight
        target = float(my_tag) + max(self._backlog_images(backend, tenant, jobs) - 1, 0) / weight
        raw = self._redis.zrangebyscore(
            tenants_key, "-inf", f"({target}", start=0, num=ESTIMATE_TENANTS, withscores=True
        )
        ahead_jobs, ahead_images = 0, 0.0
        for member, tag in cast(list[tuple[str, float]], raw):
            other = str(member)
            if other == tenant:
                continue
            queued = int(self._redis.zcard(keys.sched_queue(backend, other)))
            images = int(self._redis.hget(keys.sched_images(backend), other) or 0)
            if not queued or not images:
                continue
            share = min(float(images), (target - float(tag)) * self._plans.get(other).weight)
            ahead_images += share
            ahead_jobs += math.ceil(share * queued / images)
        return ahead_jobs, ahead_images

    def _eta(self, backend: str, tenant: str, mine: float, total: float) -> float | None:
        """When the last of ``total`` images (``mine`` of them the tenant's) will have been handed out, from the
        quota windows: what is left of the current window, then a full window's limit per window."""
        if backend != KARLO:
            return None
        usages = [self._quota.usage(scope)[0] for scope in scopes_for(self._settings, tenant, self._plans.get(tenant))]
        now = usages[0].measured_at
        eta = now
        for usage, images in zip(usages, (total, mine), strict=False):
            over = images - usage.remaining
            if over > 0:
                eta = max(eta, usage.resets_at + (math.ceil(over / usage.limit) - 1) * self._window)
        blocked = float(self._redis.get(keys.quota_blocked()) or 0)
        return max(eta, blocked)


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
