"""The job store: job records in Redis, changed only through atomic scripts.

A job is a hash: ``spec`` (immutable JSON: id, kind, tenant, input, created_at), ``status``, ``attempts``,
``lease_token`` while a worker holds it, timestamps, and ``images`` / ``error`` / ``upstream`` as JSON.
Every active job also sits in a deadlines sorted set; the sweeper re-dispatches jobs whose deadline passed
(a lost message, a worker that died), and a worker's lease is that deadline, kept alive while it works.
A retry or a wait for quota is the same schedule: the job is due (and ``run_after`` says it may be claimed)
once its delay is over, and only then does the sweeper send its message; Celery never holds a delayed one.
Every status change also records the job's webhook event (``lua/job_events.lua``) in the same script, so an
event is never lost between the change and its outbox entry, nor sent for a change that did not happen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
import redis.asyncio as aioredis

from karlo_core import keys, lua
from karlo_core.backends.catalogue import recorded_input
from karlo_core.errors import KarloQueueError
from karlo_core.idempotency import KEEP_SECONDS, Claimed
from karlo_core.jobs import (
    CLAIMABLE_STATUSES,
    DEFAULT_TENANT,
    Job,
    JobError,
    JobKind,
    JobProgress,
    JobStatus,
    StoredImage,
    job_input_from_record,
)

#: Least seconds between two ``job.progress`` stream events of one job (a step change is needed as well).
PROGRESS_EVENT_SECONDS = 1.0


class KeyTaken(KarloQueueError):
    """The Idempotency-Key's claim ran out before the job was created, and another request holds the key."""

    slug = "idempotency_key_taken"
    retryable = True


class CancelOutcome(StrEnum):
    CANCELED = "canceled"
    REQUESTED = "requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSING = "missing"


class SettleOutcome(StrEnum):
    """How settling a running job ended (``lua/job_settle.lua``). True only when the job moved as asked."""

    #: The job moved to the status asked for.
    SETTLED = "settled"
    #: A cancel arrived while the job ran: it ended canceled instead, and what the attempt made is dropped.
    CANCELED = "canceled"
    #: The lease is not this worker's any more (another worker claimed the job, or it is gone): nothing changed.
    LEASE_LOST = "lease_lost"

    def __bool__(self) -> bool:
        return self is SettleOutcome.SETTLED


@dataclass(frozen=True)
class EventRetention:
    """How much of a tenant's event stream is kept: at most ``max_events`` events, none older than
    ``max_age_seconds``; the live stream API processes block on keeps ``live_events``."""

    max_events: int
    max_age_seconds: int
    live_events: int = 10_000

    @property
    def field(self) -> str:
        return f"{self.max_events} {self.max_age_seconds} {self.live_events}"


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: ``claimed`` with the attempt number and the job as the claim left it (read in
    the same script, so no second round trip), or why not."""

    claimed: bool
    reason: str
    attempts: int = 0
    job: Job | None = None
    #: With ``restamp``: whether the reservation made for this attempt was restamped (None: it has none).
    restamped: bool | None = None


@dataclass(frozen=True)
class Restamp:
    """Restamp, in the claim, the quota reservation the scheduler made for the claiming attempt (see
    ``lua/quota_restamp_lib.lua``): the minute window and whether the test clock may stand in for Redis's."""

    minute_seconds: float
    clock_override: str


class LeaseState(StrEnum):
    """What extending a lease found (``lua/job_extend.lua``)."""

    #: Extended.
    HELD = "held"
    #: Extended, and a cancel has been requested: what the attempt makes is dropped.
    CANCEL_REQUESTED = "cancel_requested"
    #: Not this worker's any more (another worker claimed the job, or it settled or is gone).
    LOST = "lost"


_LEASE_REPLIES = {0: LeaseState.LOST, 1: LeaseState.HELD, 2: LeaseState.CANCEL_REQUESTED}


#: ``json.dumps(value, separators=(",", ":"))`` made once (``dumps`` with any argument builds a new encoder per
#: call; a job's record is written on every accept, its outcome on every settle, a webhook attempt's record on
#: every delivery).
compact_json = json.JSONEncoder(separators=(",", ":")).encode


def job_record(job: Job, events: EventRetention | None) -> tuple[str, list[Any]]:
    """A new job's ``spec`` JSON and its other hash fields (a flat field/value list), as the creating scripts
    (``lua/job_record.lua``) write them. With ``events``, the job's events also go to its tenant's stream."""
    spec: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind.value,
        "tenant": job.tenant,
        "input": recorded_input(job),
        "created_at": job.created_at,
        "notices": job.notices,
    }
    if job.batch_id:
        spec["batch"] = job.batch_id
    fields: list[Any] = []
    if job.webhook_url:
        fields += ["webhook_url", job.webhook_url, "webhook_events", job.webhook_events]
    if job.backend != DEFAULT_BACKEND:
        fields += ["backend", job.backend]
    if events is not None:
        fields += ["events_stream", keys.tenant_events(job.tenant), "events_live", keys.events_live()]
        fields += ["events_keep", events.field]
    if job.batch_id:
        fields += ["batch_key", keys.batch(job.batch_id)]
    if job.priority != "normal":
        fields += ["priority", job.priority]
    return compact_json(spec), fields


class JobStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._create = client.register_script(lua.load("job_create"))
        self._claim = client.register_script(lua.load("job_claim"))
        self._extend = client.register_script(lua.load("job_extend"))
        self._settle = client.register_script(lua.load("job_settle"))
        self._due = client.register_script(lua.load("take_due"))
        self._cancel = client.register_script(lua.load("job_cancel"))
        self._progress = client.register_script(lua.load("job_progress"))
        self._withdraw = client.register_script(lua.load("job_withdraw"))
        self._orphaned = client.register_script(lua.load("job_orphaned"))
        self._dispatched = client.register_script(lua.load("job_dispatched"))
        self._resched = client.register_script(lua.load("job_resched"))

    def create(
        self,
        job: Job,
        *,
        dispatch_grace: float,
        idempotency: Claimed | None = None,
        events: EventRetention | None = None,
        schedule_offset: float | None = None,
    ) -> bool:
        """Store a new job, due for dispatch ``dispatch_grace`` seconds from now, or, with ``schedule_offset``
        (its priority's offset), in its tenant's queue of the fair scheduler (``karlo_core.scheduler``), in the
        same step; False if the id exists already (nothing is overwritten). With ``idempotency``, the key's
        record names this job from the same step on; KeyTaken when the claim's lease ran out and another
        request holds the key. With ``events``, the job's events also go to its tenant's event stream,
        starting with ``job.queued``."""
        keys_, args = self._create_call(job, dispatch_grace, events, idempotency, schedule_offset)
        created = int(self._create(keys=keys_, args=args))
        if created < 0:
            raise KeyTaken(job.id)
        return created == 1

    def queue_creates(
        self,
        pipe: redis.client.Pipeline,
        jobs: Sequence[Job],
        *,
        dispatch_grace: float,
        events: EventRetention | None,
        schedule_offsets: Sequence[float] | None = None,
    ) -> None:
        """Add the creation of new jobs to a pipeline, so many are stored in one round trip (and transaction);
        with ``schedule_offsets`` (one per job), into the fair scheduler's queues."""
        for index, job in enumerate(jobs):
            offset = None if schedule_offsets is None else schedule_offsets[index]
            keys_, args = self._create_call(job, dispatch_grace, events, None, offset)
            self._create(keys=keys_, args=args, client=pipe)

    def cancel_many(self, job_ids: Sequence[str]) -> list[CancelOutcome]:
        """:meth:`cancel` for many jobs, in one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                self._cancel(keys=_transition_keys(job_id), args=[job_id], client=pipe)
            replies = pipe.execute()
        return [CancelOutcome(str(reply)) for reply in replies]

    @staticmethod
    def _create_call(
        job: Job,
        dispatch_grace: float,
        events: EventRetention | None,
        idempotency: Claimed | None,
        schedule_offset: float | None = None,
    ) -> tuple[list[str], list[Any]]:
        spec, fields = job_record(job, events)
        keys_ = [keys.job(job.id), keys.job_deadlines()]
        args: list[Any] = [job.id, spec, job.status.value, dispatch_grace]
        if idempotency is None:
            args += ["", "", 0]
        else:
            keys_.append(idempotency.record_key)
            args += [idempotency.record(job.id), idempotency.token, KEEP_SECONDS]
        if schedule_offset is not None:
            fields += ["sched_offset", schedule_offset, "sched_images", job.images_wanted]
        return keys_, args + fields

    def dispatched(self, job_id: str, *, grace: float, since: float = 0.0) -> None:
        """The job's message was sent, sending having begun at ``since`` (Redis time; 0 for a new job): its
        deadline becomes the last-resort one, ``grace`` ahead, unless a worker claimed the job meanwhile."""
        self._dispatched(keys=[keys.job(job_id), keys.job_deadlines()], args=[job_id, grace, since])

    def now(self) -> float:
        """Redis's clock, which every script reads."""
        seconds, micros = self._redis.time()
        return seconds + micros / 1e6

    def get(self, job_id: str) -> Job | None:
        raw = self._redis.hgetall(keys.job(job_id))
        return job_from_hash({str(k): str(v) for k, v in raw.items()}) if raw else None

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(keys.job(job_id))
            found = pipe.execute()
        return [job_from_hash({str(k): str(v) for k, v in raw.items()}) if raw else None for raw in found]

    def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel a queued or waiting job now, or mark a running one to end canceled when its worker settles."""
        return CancelOutcome(str(self._cancel(keys=_transition_keys(job_id), args=[job_id])))

    def end_canceled(self, job_id: str, token: str) -> SettleOutcome:
        """Settle a running job whose cancel was requested, dropping what its attempt produced."""
        return self._settle_lease(job_id, token, JobStatus.CANCELED, None, {})

    def record_progress(self, job_id: str, token: str, progress: JobProgress) -> bool:
        """Note a running job's progress (only its lease holder can) and show it on the event stream as
        ``job.progress`` (at most once per step change and per :data:`PROGRESS_EVENT_SECONDS`, but always the
        last step); True when a cancel has been requested."""
        value = compact_json(progress.to_dict())
        args: list[str | float] = [token, value, PROGRESS_EVENT_SECONDS, job_id]
        return bool(self._progress(keys=[keys.job(job_id)], args=args))

    def backends_of(self, job_ids: Sequence[str]) -> list[str]:
        """Each job's backend (the default for a job that is gone)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(keys.job(job_id), "backend")
            found = pipe.execute()
        return [str(name) if name else DEFAULT_BACKEND for name in found]

    def withdraw(self, job_id: str) -> None:
        """Remove a job that could not be dispatched, and the event its creation wrote, so no half-made job is
        left behind."""
        self._withdraw(keys=[keys.job(job_id), keys.job_deadlines(), keys.job_deliveries(job_id)], args=[job_id])

    def queue_withdrawals(self, pipe: redis.client.Pipeline, job_ids: Sequence[str]) -> None:
        """Add :meth:`withdraw` of many jobs to a pipeline."""
        for job_id in job_ids:
            keys_ = [keys.job(job_id), keys.job_deadlines(), keys.job_deliveries(job_id)]
            self._withdraw(keys=keys_, args=[job_id], client=pipe)

    def delete(self, job_id: str) -> None:
        """Remove a job's record, outbox and deadline (retention; its events stay in the tenant's stream)."""
        with self._redis.pipeline() as pipe:
            pipe.delete(keys.job(job_id), keys.job_deliveries(job_id))
            pipe.zrem(keys.job_deadlines(), job_id)
            pipe.execute()

    def claim(self, job_id: str, token: str, *, lease_seconds: float, restamp: Restamp | None = None) -> Claim:
        """Claim the job under a lease; with ``restamp``, also restamp the quota reservation made for this
        attempt, in the same step (the call follows at once)."""
        statuses = [s.value for s in CLAIMABLE_STATUSES]
        quota: list[str] = ["", "0"] if restamp is None else [repr(restamp.minute_seconds), restamp.clock_override]
        args: list[str | float] = [job_id, token, lease_seconds, *quota, keys.quota_reservation(""), *statuses]
        reply = self._claim(keys=[*_transition_keys(job_id), keys.quota_clock()], args=args)
        if reply[0] == "claimed":
            flat = [str(item) for item in reply[2]]
            job = job_from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
            restamped = None if reply[3] == "" else reply[3] == "1"
            return Claim(True, "claimed", int(reply[1]), job, restamped)
        return Claim(False, str(reply[0]))

    def extend_leases(self, leases: Sequence[tuple[str, str]], *, lease_seconds: float) -> list[LeaseState]:
        """Extend the leases of (job id, token) pairs, all in one round trip; what each one found."""
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id, token in leases:
                keys_ = [keys.job(job_id), keys.job_deadlines()]
                self._extend(keys=keys_, args=[job_id, token, lease_seconds], client=pipe)
            replies = pipe.execute()
        return [_LEASE_REPLIES[int(reply)] for reply in replies]

    def succeed(self, job_id: str, token: str, images: list[StoredImage], upstream: dict[str, Any]) -> SettleOutcome:
        fields = {"images": [i.to_dict() for i in images], "upstream": upstream, "error": None, **_WAIT_OVER}
        return self._settle_lease(job_id, token, JobStatus.SUCCEEDED, None, fields)

    def fail(self, job_id: str, token: str, error: JobError) -> SettleOutcome:
        return self._settle_lease(job_id, token, JobStatus.FAILED, None, {"error": error.to_dict(), **_WAIT_OVER})

    def release(
        self, job_id: str, token: str, *, next_deadline: float, error: JobError, failures: int
    ) -> SettleOutcome:
        """Give a running job back to the queue after a failed attempt; it must be re-dispatched in time."""
        fields = {"error": error.to_dict(), "failures": failures, **_WAIT_OVER}
        return self._settle_lease(job_id, token, JobStatus.QUEUED, next_deadline, fields)

    def requeue(
        self,
        job_id: str,
        token: str,
        *,
        status: JobStatus,
        images: int,
        delay: float = 0.0,
        error: JobError | None = None,
        failures: int | None = None,
    ) -> SettleOutcome:
        """Put a running job back at the head of its tenant's scheduler queue (``status`` queued, or waiting
        for quota after Karlo said its quota is spent); the scheduler hands it out again with a reservation,
        not before ``delay`` seconds (a retry's backoff). A retry also records its ``error`` and ``failures``."""
        fields: dict[str, Any] = {"sched_images": images}
        if error is not None:
            fields |= {"error": error.to_dict(), "failures": failures, **_WAIT_OVER}
        return self._settle_lease(job_id, token, status, f"sched:{delay!r}", fields)

    def wait_for_quota(
        self, job_id: str, token: str, *, eta: float, delay: float, since: float | None = None
    ) -> SettleOutcome:
        """Park a running job until quota frees up; the dispatch schedule brings it back after ``delay``.

        ``since`` is when this wait began (kept across re-parks), so the wait can be measured when it ends.
        """
        fields = {"quota_eta": eta, "quota_wait_since": since}
        return self._settle_lease(job_id, token, JobStatus.WAITING_FOR_QUOTA, delay, fields)

    def resend_or_requeue(self, job_id: str, *, images: int) -> str:
        """A due hosted-Karlo job: 'send' (it holds an unused reservation: its message was lost), 'requeued'
        (back at the head of its tenant's scheduler queue for a new one) or 'skip'. See ``lua/job_resched.lua``."""
        return str(self._resched(keys=_transition_keys(job_id), args=[job_id, images]))

    def due_for_dispatch(self, *, limit: int, grace: float) -> list[str]:
        """Active jobs whose deadline passed; their deadline moves ``grace`` seconds ahead (until the sender
        confirms with :meth:`dispatched`)."""
        return [str(i) for i in self._due(keys=[keys.job_deadlines()], args=[limit, grace])]

    def lost_dispatch_candidates(
        self, *, older_than: float, grace: float | None = None, limit: int | None = None
    ) -> list[tuple[str, float]]:
        """Jobs that should have a message somewhere: queued or waiting (and not before a retry or a wait
        ends), their message confirmed sent over ``older_than`` seconds ago, and nobody claimed them since;
        with when it was sent. Whether the message still exists is the broker's to say.

        A sent message gives its job the deadline ``grace`` seconds after the sending (the last resort), so
        with ``grace`` only deadlines up to ``grace - older_than`` ahead are read: a job sent less than
        ``older_than`` ago is not read at all, and the read grows with the jobs sent a while ago and still
        unclaimed rather than with all jobs in flight. (A job sent with a longer grace is found that much
        later.) With ``limit``, only that many deadlines are read, the nearest first (with one grace, the jobs
        sent longest ago), so one look costs the same however many jobs wait."""
        now = self.now()
        until: float | str = "+inf" if grace is None else now + max(grace - older_than, 0.0)
        start = None if limit is None else 0
        ids = [str(i) for i in self._redis.zrangebyscore(keys.job_deadlines(), now, until, start=start, num=limit)]
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(keys.job(job_id), "status", "run_after", "dispatched_at", "claimed_at")
            states = pipe.execute()
        found = []
        for job_id, (status, run_after, dispatched_at, claimed_at) in zip(ids, states, strict=True):
            if status not in (JobStatus.QUEUED.value, JobStatus.WAITING_FOR_QUOTA.value) or not dispatched_at:
                continue
            sent = float(dispatched_at)
            if float(run_after or 0) <= now and sent < now - older_than and float(claimed_at or 0) < sent:
                found.append((job_id, sent))
        return found

    def reschedule_if_orphaned(self, job_id: str, *, delivered_at: float) -> str:
        """A run-job message delivered at ``delivered_at`` is still unacknowledged: if nobody claimed the job
        since, its worker died with it, and the job is made due again. See ``lua/job_orphaned.lua``."""
        keys_ = [keys.job(job_id), keys.job_deadlines()]
        return str(self._orphaned(keys=keys_, args=[job_id, repr(delivered_at)]))

    def _settle_lease(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        next_deadline: float | str | None,
        fields: dict[str, Any],
    ) -> SettleOutcome:
        pairs: list[str] = []
        for name, value in fields.items():
            pairs += [name, compact_json(value)]
        deadline = (
            "" if next_deadline is None else next_deadline if isinstance(next_deadline, str) else repr(next_deadline)
        )
        reply = self._settle(keys=_transition_keys(job_id), args=[job_id, token, status.value, deadline, *pairs])
        if reply == "ok":
            return SettleOutcome.SETTLED
        return SettleOutcome.CANCELED if reply == "canceled" else SettleOutcome.LEASE_LOST


#: Jobs whose record names no backend run on hosted Karlo (every job made before backends existed).
DEFAULT_BACKEND = "karlo"
#: Settling a job after it got quota ends its wait.
_WAIT_OVER: dict[str, Any] = {"quota_wait_since": None}


def _transition_keys(job_id: str) -> list[str]:
    """Keys of every script that changes a job's status: the change records its webhook event atomically."""
    return [keys.job(job_id), keys.job_deadlines(), keys.job_deliveries(job_id), keys.webhook_schedule()]


def _optional_float(value: str | None) -> float | None:
    return float(value) if value and value != "null" else None


def _json_list(value: str | None) -> Iterable[dict[str, Any]]:
    return json.loads(value) if value else []


async def read_job(client: aioredis.Redis, job_id: str) -> Job | None:
    """:meth:`JobStore.get` on an asyncio client (the API's hot paths)."""
    raw = await client.hgetall(keys.job(job_id))
    return job_from_hash({str(k): str(v) for k, v in raw.items()}) if raw else None


def job_from_hash(raw: dict[str, str]) -> Job:
    """A job from its hash fields (also from the snapshot a webhook delivery keeps)."""
    spec = json.loads(raw["spec"])
    error = json.loads(raw["error"]) if raw.get("error") else None
    kind = JobKind(spec["kind"])
    params, inputs, canvas = job_input_from_record(kind, spec["input"])
    return Job(
        id=spec["id"],
        kind=kind,
        status=JobStatus(raw["status"]),
        params=params,
        inputs=inputs,
        canvas=canvas,
        created_at=float(spec["created_at"]),
        tenant=spec.get("tenant", DEFAULT_TENANT),
        started_at=_optional_float(raw.get("started_at")),
        completed_at=_optional_float(raw.get("completed_at")),
        attempts=int(raw.get("attempts", 0)),
        images=[StoredImage.from_dict(i) for i in _json_list(raw.get("images"))],
        error=JobError(**error) if error else None,
        upstream=json.loads(raw["upstream"]) if raw.get("upstream") else {},
        notices=spec.get("notices", []),
        failures=int(raw.get("failures", 0)),
        quota_eta=_optional_float(raw.get("quota_eta")),
        quota_wait_since=_optional_float(raw.get("quota_wait_since")),
        webhook_url=raw.get("webhook_url") or None,
        webhook_events=raw.get("webhook_events", ""),
        cancel_requested=raw.get("cancel_requested") == "1",
        backend=raw.get("backend") or DEFAULT_BACKEND,
        progress=JobProgress(**json.loads(raw["progress"])) if raw.get("progress") else None,
        batch_id=spec.get("batch"),
        priority=raw.get("priority") or "normal",
        reservation=raw.get("reservation") or None,
        reservation_attempt=int(raw.get("reservation_attempt") or 0),
        quota_denied=raw.get("quota_denied") or None,
    )
