"""The webhook outbox in Redis: delivery records, the due schedule and dead letters (a tenant's default URL and
disabled receivers are ``endpoints.py``'s).

Delivery records are written by the job transition scripts (one per event, in the job's deliveries hash);
this module reads them, takes due ones, and records attempts. A delivery's id is its ``webhook-id``:
``msg_<job id>_<seq>``, the same on every attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis

from karlo_core import keys, lua
from karlo_core.ids import is_job_id
from karlo_core.jobs import DEFAULT_TENANT, Job
from karlo_core.jobstore import compact_json, job_from_hash


@dataclass(frozen=True)
class Delivery:
    id: str
    job_id: str
    seq: int
    event: str
    url: str
    status: str  # pending | delivered | dead | disabled
    created_at: float
    next_at: float | None
    delivered_at: float | None
    round_start: int
    attempts: list[dict[str, Any]] = field(default_factory=list)
    job: dict[str, str] = field(default_factory=dict)
    #: For ``batch.completed``: the batch as it finished (the job is the batch's last to finish).
    batch: dict[str, str] = field(default_factory=dict)

    @property
    def member(self) -> str:
        return schedule_member(self.job_id, self.seq)

    @property
    def tenant(self) -> str:
        return str(json.loads(self.job["spec"]).get("tenant", DEFAULT_TENANT))

    @property
    def failures_this_round(self) -> int:
        return len(self.attempts) - self.round_start

    def job_at_event(self) -> Job:
        return job_from_hash(self.job)


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt as recorded: when, the answer (or the error), and how long it took."""

    at: float
    outcome: str
    status_code: int | None
    latency_ms: float
    error: str | None = None

    def to_json(self) -> str:
        return compact_json(self.__dict__)


def schedule_member(job_id: str, seq: int) -> str:
    return f"{job_id}:{seq}"


def parse_delivery_id(delivery_id: str) -> tuple[str, int] | None:
    """``msg_<job id>_<seq>`` -> (job id, seq); None when it is not one."""
    prefix, _, rest = delivery_id.partition("_")
    job_id, _, seq = rest.partition("_")
    if prefix != "msg" or not is_job_id(job_id) or not seq.isdigit():
        return None
    return job_id, int(seq)


def _delivery(job_id: str, raw: str) -> Delivery:
    data = json.loads(raw)
    attempts = data.get("attempts")
    return Delivery(
        id=data["id"],
        job_id=job_id,
        seq=int(data["seq"]),
        event=data["event"],
        url=data["url"],
        status=data["status"],
        created_at=float(data["created_at"]),
        next_at=float(data["next_at"]) if data.get("next_at") else None,
        delivered_at=float(data["delivered_at"]) if data.get("delivered_at") else None,
        round_start=int(data.get("round_start", 0)),
        attempts=attempts if isinstance(attempts, list) else [],
        job=data.get("job") or {},
        batch=data.get("batch") or {},
    )


class Outbox:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._due = client.register_script(lua.load("take_due"))
        self._attempt = client.register_script(lua.load("webhook_attempt"))
        self._requeue = client.register_script(lua.load("webhook_requeue"))

    # --- reading -------------------------------------------------------------------------------------
    def deliveries(self, job_id: str) -> list[Delivery]:
        raw = self._redis.hgetall(keys.job_deliveries(job_id))
        found = [_delivery(job_id, str(v)) for v in raw.values()]
        return sorted(found, key=lambda d: d.seq)

    def get(self, job_id: str, seq: int) -> Delivery | None:
        raw = self._redis.hget(keys.job_deliveries(job_id), str(seq))
        return _delivery(job_id, str(raw)) if raw else None

    def dead_letters(self, tenant: str) -> list[tuple[str, int]]:
        members = self._redis.zrange(keys.webhook_dead_letters(tenant), 0, -1)
        return [_split(str(m)) for m in members]

    # --- dispatching and recording -------------------------------------------------------------------
    def begin_attempt(self, job_id: str, seq: int, *, ttl_seconds: float) -> bool:
        """Take the right to make the next attempt; False while another run's attempt is in flight."""
        return bool(self._redis.set(keys.webhook_sending(job_id, seq), "1", nx=True, px=int(ttl_seconds * 1000)))

    def forget(self, job_id: str, seq: int) -> None:
        """Drop a delivery whose job is gone (deleted by retention) from the schedule."""
        self._redis.zrem(keys.webhook_schedule(), schedule_member(job_id, seq))

    def end_attempt(self, job_id: str, seq: int) -> None:
        self._redis.delete(keys.webhook_sending(job_id, seq))

    def due(self, *, limit: int, lease_seconds: float) -> list[tuple[str, int]]:
        """Deliveries whose next attempt is due; each is leased for ``lease_seconds`` before it is due again."""
        members = self._due(keys=[keys.webhook_schedule()], args=[limit, lease_seconds])
        return [_split(str(m)) for m in members]

    def record(
        self, delivery: Delivery, attempt: Attempt | None, *, status: str, delay: float = 0.0, gone: bool = False
    ) -> bool:
        """Store an attempt and the delivery's next state; False when another run recorded it first."""
        tenant = delivery.tenant
        reply = self._attempt(
            keys=[
                keys.job_deliveries(delivery.job_id),
                keys.webhook_schedule(),
                keys.webhook_dead_letters(tenant),
                keys.webhook_disabled(tenant),
            ],
            args=[delivery.seq, delivery.member, attempt.to_json() if attempt else "", status, delay, int(gone)],
        )
        return bool(reply == "ok")

    def requeue(self, job_id: str, seq: int, tenant: str) -> str:
        """Make a delivery due now, from the start of the schedule; returns the status it had."""
        reply = self._requeue(
            keys=[keys.job_deliveries(job_id), keys.webhook_schedule(), keys.webhook_dead_letters(tenant)],
            args=[seq, schedule_member(job_id, seq)],
        )
        return str(reply)

    def replay_dead_letters(self, tenant: str) -> int:
        """Send every dead letter of a tenant again; returns how many."""
        count = 0
        for job_id, seq in self.dead_letters(tenant):
            if self.requeue(job_id, seq, tenant) != "missing":
                count += 1
        return count


def _split(member: str) -> tuple[str, int]:
    job_id, _, seq = member.rpartition(":")
    return job_id, int(seq)
