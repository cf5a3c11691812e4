"""Accepting a job in one Redis round trip: ``lua/job_accept.lua``.

One script reads the tenant's plan (``karlo_core.plans``; afresh on every accept, so a change applies at once),
checks the job's priority against the plan's highest, the plan's quota share (from the windows' running totals,
O(1) in the minute log's length) and its concurrent-job cap, writes the job's record, index entry,
``job.queued`` event and Idempotency-Key record, and puts the job in its tenant's queue of the fair scheduler
(``lua/sched_lib.lua``): all of it, or, when a check refuses, nothing. Every check comes before the first write,
so no job exists outside its tenant's queue, whatever fails. The dispatcher hands it out from there
(``karlo_core.scheduler``), giving it its dispatch deadline and its Celery message: the same script runs one
dispatch step for the job's backend right after (``lua/sched_step.lua``), which pushes the messages of what it
hands out itself when the broker is this Redis, so a job accepted while capacity is free is on its way to a
worker in that one round trip. With another broker (``KARLOQ_BROKER_URL``) the caller sends those messages
(``Accepted.step.pushed`` is False).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from karlo_core import keys, lua
from karlo_core.errors import TooManyActiveJobs
from karlo_core.idempotency import KEEP_SECONDS, Claimed
from karlo_core.jobs import Job
from karlo_core.jobstore import EventRetention, KeyTaken, job_record
from karlo_core.plans import PRIORITIES, default_plan
from karlo_core.quota.buckets import QuotaBuckets, QuotaLimits, Scope, WindowUsage
from karlo_core.quota.policy import UNLIMITED, share_name, share_scope, upstream_scope
from karlo_core.quota.windows import CalendarWindow
from karlo_core.redis_pipe import PipelinedRedis
from karlo_core.scheduler import DispatchStep, Scheduler, step_from_reply
from karlo_core.settings import Settings
from karlo_core.tenant_jobs import RECORDING_GRACE_SECONDS

#: Dispatch-step and settings strings kept (one per backend and day); past this, they are built afresh.
SETTINGS_KEPT = 10_000


@dataclass(frozen=True)
class AcceptCall:
    """One job to accept; its tenant's plan (read by the script) gives the limits it is accepted under."""

    job: Job
    images: int
    #: Whether the tenant share's day and month must still fit ``images`` (a hosted-Karlo job; a local
    #: backend's capacity is its GPUs).
    check_share: bool = False
    #: The job's priority's offset in its tenant queue's order (``karlo_core.plans.priority_offset``).
    offset: float = 0.0
    idempotency: Claimed | None = None


@dataclass(frozen=True)
class Accepted:
    """The job is recorded in its tenant's queue; ``usages`` are each scope's windows as it was accepted (the
    upstream account, then the tenant's share when its plan sets one), and ``step`` the dispatch step that
    followed in the same script (what it handed out, the job itself or not)."""

    usages: list[list[WindowUsage]]
    step: DispatchStep


@dataclass(frozen=True)
class QuotaSpent:
    """Refused: the tenant share's day or month cannot fit the job's images. Nothing was written."""

    usages: list[list[WindowUsage]]


@dataclass(frozen=True)
class AbovePlanPriority:
    """Refused: the job's priority is above the highest its tenant's plan allows. Nothing was written."""

    max_priority: str


class JobAcceptor:
    """Accepts jobs with the accept script, on ``client``: the API's auto-pipelined connection
    (``karlo_core.redis_pipe``) or any redis-py asyncio client."""

    def __init__(
        self,
        client: aioredis.Redis | PipelinedRedis,
        quota: QuotaBuckets,
        scheduler: Scheduler,
        settings: Settings,
        *,
        events: EventRetention | None,
    ) -> None:
        self._redis = client
        self._script = lua.load("job_accept")
        self._sha = hashlib.sha1(self._script.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)
        self._scheduler = scheduler
        self._steps_made: dict[tuple[str, CalendarWindow, CalendarWindow], tuple[list[str], str]] = {}
        self._quota = quota
        self._events = events
        self._clock_key = keys.quota_clock()
        self._upstream = upstream_scope(settings)
        self._defaults = default_plan(settings)
        self._settings_made: dict[tuple[CalendarWindow, CalendarWindow], str] = {}

    async def accept(self, call: AcceptCall) -> Accepted | QuotaSpent | AbovePlanPriority:
        """Accept the job in one round trip; TooManyActiveJobs or KeyTaken when it cannot be."""
        job = call.job
        spec, fields = job_record(job, self._events)
        claim = call.idempotency
        share_keys = Scope(share_name(job.tenant), QuotaLimits(UNLIMITED, UNLIMITED, UNLIMITED))
        now = self._quota.guess_now()
        for _ in range(3):
            day, month = self._quota.windows(now)
            step_keys, step_args = self._step(job.backend, day, month)
            reply = await self._call(
                [
                    keys.job(job.id),
                    keys.job_deadlines(),
                    keys.tenant_jobs(job.tenant),
                    keys.tenant_active_jobs(job.tenant),
                    claim.record_key if claim else keys.job(job.id),
                    self._clock_key,
                    *step_keys,
                    keys.plan(job.tenant),
                    *self._quota.scope_keys([self._upstream, share_keys], day, month),
                ],
                [
                    job.id,
                    spec,
                    claim.record(job.id) if claim else "",
                    claim.token if claim else "",
                    call.images,
                    repr(call.offset),
                    self._settings(day, month),
                    step_args,
                    job.priority,
                    "1" if call.check_share else "0",
                    *fields,
                ],
            )
            outcome = str(reply[0])
            if outcome in ("accepted", "quota", "stale"):
                now = self._quota.learn_clock(float(reply[1]))
            if outcome == "stale":
                continue
            if outcome == "priority":
                return AbovePlanPriority(str(reply[1]))
            if outcome == "cap":
                raise TooManyActiveJobs(int(reply[1]))
            if outcome == "key_taken":
                raise KeyTaken(job.id)
            if outcome == "exists":
                raise RuntimeError(f"job id {job.id} was already taken")
            flat = [str(v) for v in reply[2:]]
            share = share_scope(job.tenant, int(flat[0]), int(flat[1]), int(flat[2]))
            scopes = [self._upstream] if share is None else [self._upstream, share]
            usage_end = 3 + 4 * len(scopes)
            usages = self._quota.usages_from(flat[3:usage_end], scopes, now, day, month)
            if outcome == "quota":
                return QuotaSpent(usages)
            return Accepted(usages, step_from_reply(job.backend, flat[usage_end:]))
        raise RuntimeError("quota windows kept moving while accepting a job")

    async def _call(self, script_keys: list[str], args: list[str | int]) -> Any:
        """The accept script's reply: ``EVALSHA`` called directly (redis-py's script object first checks whether
        its client is a pipeline, an ``isinstance`` against a protocol class that cost more than the call's own
        packing), loading the script when the server does not know it (after a restart or a flush)."""
        try:
            return await self._redis.evalsha(self._sha, len(script_keys), *script_keys, *args)
        except NoScriptError:
            self._sha = await self._redis.script_load(self._script)
            return await self._redis.evalsha(self._sha, len(script_keys), *script_keys, *args)

    def _step(self, backend: str, day: CalendarWindow, month: CalendarWindow) -> tuple[list[str], str]:
        """The dispatch step's keys and its arguments as one space-separated string (built once per backend
        and day)."""
        key = (backend, day, month)
        found = self._steps_made.get(key)
        if found is None:
            step_keys, args = self._scheduler.step_call(backend, day, month)
            found = (step_keys, _words(args))
            if len(self._steps_made) >= SETTINGS_KEPT:
                self._steps_made.clear()
            self._steps_made[key] = found
        return found

    def _settings(self, day: CalendarWindow, month: CalendarWindow) -> str:
        """The script's settings argument: fixed for a process and a day, so built once for each and kept."""
        key = (day, month)
        found = self._settings_made.get(key)
        if found is None:
            plan = self._defaults
            found = _words(
                [
                    keys.job(""),
                    RECORDING_GRACE_SECONDS,
                    KEEP_SECONDS,
                    self._quota.minute_seconds,
                    day.start,
                    day.end,
                    month.start,
                    month.end,
                    self._quota.override,
                    plan.max_active,
                    plan.max_priority,
                    plan.per_minute,
                    plan.per_day,
                    plan.per_month,
                    ",".join(PRIORITIES),
                ]
            )
            if len(self._settings_made) >= SETTINGS_KEPT:
                self._settings_made.clear()
            self._settings_made[key] = found
        return found


def _words(values: Sequence[object]) -> str:
    """Values as one space-separated script argument (floats exactly, by their repr)."""
    return " ".join(repr(v) if isinstance(v, float) else str(v) for v in values)
