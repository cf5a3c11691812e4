"""Accepting a job in one Redis round trip: ``lua/job_accept.lua``.

One script checks the tenant's quota share (from the windows' running totals, O(1) in the minute log's
length) and its concurrent-job cap, writes the job's record, index entry, dispatch deadline, ``job.queued``
event and Idempotency-Key record, and pushes the job's run-job message in kombu's Redis format (a Celery
protocol-2 message the worker consumes as if ``send_task`` had sent it): all of it, or, when a check
refuses, nothing. Every check comes before the first write, so no job exists without its message and no
message without its job, whatever fails.

That needs the broker to be the job store's Redis. With another broker (``KARLOQ_BROKER_URL``) the script
records the job due for dispatch soon and the caller sends the message (``pushed`` is False).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from karlo_core import keys, lua
from karlo_core.errors import QueueUnavailable, TooManyActiveJobs
from karlo_core.idempotency import KEEP_SECONDS, Claimed
from karlo_core.jobs import Job
from karlo_core.jobstore import EventRetention, KeyTaken, job_record
from karlo_core.queue import RUN_JOB_TASK
from karlo_core.quota.buckets import QuotaBuckets, Scope, WindowUsage
from karlo_core.quota.windows import CalendarWindow
from karlo_core.tenant_jobs import RECORDING_GRACE_SECONDS

#: Settings strings kept (one per tenant share, day and checked scope); past this, they are built afresh.
SETTINGS_KEPT = 10_000


@dataclass(frozen=True)
class AcceptCall:
    """One job to accept, and the limits it is accepted under."""

    job: Job
    #: The tenant's concurrent-job cap (0: none).
    cap: int
    #: The quota scopes whose windows the answer reports (the upstream account, then the tenant's share).
    scopes: Sequence[Scope]
    #: The index in ``scopes`` whose day and month windows must still fit ``images``; None: no quota check.
    checked_scope: int | None
    images: int
    #: The queue of the job's backend.
    queue: str
    idempotency: Claimed | None = None


@dataclass(frozen=True)
class Accepted:
    """The job is recorded, and queued when ``pushed``; ``usages`` are each scope's windows as it was accepted."""

    usages: list[list[WindowUsage]]
    pushed: bool


@dataclass(frozen=True)
class QuotaSpent:
    """Refused: the checked scope's day or month cannot fit the job's images. Nothing was written."""

    usages: list[list[WindowUsage]]


class JobAcceptor:
    def __init__(
        self,
        client: aioredis.Redis,
        quota: QuotaBuckets,
        *,
        events: EventRetention | None,
        dispatch_grace: float,
        confirm_grace: float,
        push: bool,
    ) -> None:
        """``push``: the broker is ``client``'s Redis (same database), so the script queues the message itself,
        and the job's deadline is the last-resort ``dispatch_grace``; otherwise it is ``confirm_grace``, for the
        caller to send the message within."""
        self._script = client.register_script(lua.load("job_accept"))
        self._quota = quota
        self._events = events
        self._push = push
        self._deadline = dispatch_grace if push else confirm_grace
        # as Celery names an anonymous sender (no spaces: it travels in the space-separated settings)
        self._origin = f"gen{os.getpid()}@{socket.gethostname()}".replace(" ", "-")
        self._clock_key = keys.quota_clock()
        self._settings_made: dict[tuple[object, ...], str] = {}

    async def accept(self, call: AcceptCall) -> Accepted | QuotaSpent:
        """Accept the job in one round trip; TooManyActiveJobs, KeyTaken or QueueUnavailable when it cannot be."""
        job = call.job
        spec, fields = job_record(job, self._events)
        claim = call.idempotency
        task_id = str(uuid.uuid4())
        now = self._quota.guess_now()
        for _ in range(3):
            day, month = self._quota.windows(now)
            try:
                reply = await self._script(
                    keys=[
                        keys.job(job.id),
                        keys.job_deadlines(),
                        keys.tenant_jobs(job.tenant),
                        keys.tenant_active_jobs(job.tenant),
                        claim.record_key if claim else keys.job(job.id),
                        self._clock_key,
                        call.queue,
                        *self._quota.scope_keys(call.scopes, day, month),
                    ],
                    args=[
                        job.id,
                        spec,
                        claim.record(job.id) if claim else "",
                        claim.token if claim else "",
                        call.images,
                        task_id,
                        self._settings(call, day, month),
                        *fields,
                    ],
                )
            except ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    raise QueueUnavailable(str(exc)) from exc
                raise
            outcome = str(reply[0])
            if outcome in ("accepted", "quota", "stale"):
                now = self._quota.learn_clock(float(reply[1]))
            if outcome == "stale":
                continue
            if outcome == "cap":
                raise TooManyActiveJobs(call.cap)
            if outcome == "key_taken":
                raise KeyTaken(job.id)
            if outcome == "exists":
                raise RuntimeError(f"job id {job.id} was already taken")
            usages = self._quota.usages_from([str(v) for v in reply[2:]], call.scopes, now, day, month)
            return Accepted(usages, self._push) if outcome == "accepted" else QuotaSpent(usages)
        raise RuntimeError("quota windows kept moving while accepting a job")

    def _settings(self, call: AcceptCall, day: CalendarWindow, month: CalendarWindow) -> str:
        """The script's settings argument: fixed for a process, its scopes, the checked scope and the day, so
        built once for each and kept (a few per tenant at most)."""
        checked = call.checked_scope
        key = (call.cap, tuple(call.scopes), checked, day, month)
        found = self._settings_made.get(key)
        if found is None:
            limits = call.scopes[checked].limits if checked is not None else None
            values: list[object] = [
                call.cap,
                keys.job(""),
                RECORDING_GRACE_SECONDS,
                KEEP_SECONDS,
                checked + 1 if checked is not None else 0,
                limits.per_day if limits else 0,
                limits.per_month if limits else 0,
                self._quota.minute_seconds,
                day.start,
                day.end,
                month.start,
                month.end,
                self._quota.override,
                "1" if self._push else "0",
                RUN_JOB_TASK,
                self._origin,
                self._deadline,
            ]
            found = " ".join(repr(v) if isinstance(v, float) else str(v) for v in values)
            if len(self._settings_made) >= SETTINGS_KEPT:
                self._settings_made.clear()
            self._settings_made[key] = found
        return found
