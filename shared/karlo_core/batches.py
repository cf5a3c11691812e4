"""Batches: many jobs accepted in one request, all or nothing, and followed together.

A batch is a hash (tenant, total, created_at, webhook_url, keep_seconds, and counts of finished jobs by
status, which the job transition scripts keep), the list of its job ids, and the set of those finished. The
job that finishes last records the batch's one ``batch.completed`` event (``lua/job_events.lua``); from then
the batch is kept as long as its jobs are, then expires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from karlo_core import keys
from karlo_core.idempotency import KEEP_SECONDS, Claimed
from karlo_core.jobs import Job, JobStatus
from karlo_core.jobstore import EventRetention, JobStore

FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True)
class Batch:
    id: str
    tenant: str
    total: int
    created_at: float
    completed_at: float | None = None
    webhook_url: str | None = None
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.canceled


def batch_from_hash(raw: dict[str, str]) -> Batch:
    """A batch from its hash fields (also from the snapshot its ``batch.completed`` event keeps)."""
    return Batch(
        id=raw["id"],
        tenant=raw["tenant"],
        total=int(raw["total"]),
        created_at=float(raw["created_at"]),
        completed_at=float(raw["completed_at"]) if raw.get("completed_at") else None,
        webhook_url=raw.get("webhook_url") or None,
        succeeded=int(raw.get(JobStatus.SUCCEEDED.value, 0)),
        failed=int(raw.get(JobStatus.FAILED.value, 0)),
        canceled=int(raw.get(JobStatus.CANCELED.value, 0)),
    )


class BatchStore:
    def __init__(self, client: redis.Redis, jobs: JobStore) -> None:
        self._redis = client
        self._jobs = jobs

    def create(
        self,
        batch: Batch,
        jobs: Sequence[Job],
        *,
        dispatch_grace: float,
        events: EventRetention | None,
        keep_seconds: int,
        idempotency: Claimed | None = None,
        schedule_offsets: Sequence[float] | None = None,
    ) -> None:
        """Store the batch and all its jobs in one transaction (one pipelined round trip), with the record of
        its Idempotency-Key naming it (``idempotency``); once every job has finished, the batch is kept
        ``keep_seconds`` more."""
        record = {
            "id": batch.id,
            "tenant": batch.tenant,
            "total": str(batch.total),
            "created_at": repr(batch.created_at),
        }
        record["keep_seconds"] = str(keep_seconds)
        if batch.webhook_url:
            record["webhook_url"] = batch.webhook_url
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.batch(batch.id), mapping=record)  # type: ignore[arg-type]
            pipe.rpush(keys.batch_jobs(batch.id), *[job.id for job in jobs])
            self._jobs.queue_creates(
                pipe, jobs, dispatch_grace=dispatch_grace, events=events, schedule_offsets=schedule_offsets
            )
            if idempotency is not None:
                pipe.set(idempotency.record_key, idempotency.record(batch.id), ex=KEEP_SECONDS)
            pipe.execute()

    def withdraw(self, batch_id: str, job_ids: Sequence[str]) -> None:
        """Remove a batch that could not be accepted after all, with its jobs and their events."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.batch(batch_id), keys.batch_jobs(batch_id), keys.batch_finished(batch_id))
            self._jobs.queue_withdrawals(pipe, job_ids)
            pipe.execute()

    def get(self, batch_id: str) -> Batch | None:
        raw = self._redis.hgetall(keys.batch(batch_id))
        return batch_from_hash({str(k): str(v) for k, v in raw.items()}) if raw else None

    def job_ids(self, batch_id: str) -> list[str]:
        return [str(i) for i in self._redis.lrange(keys.batch_jobs(batch_id), 0, -1)]

    def status_counts(self, batch_id: str) -> dict[JobStatus, int]:
        """How many of the batch's jobs are in each status now (read in one round trip)."""
        ids = self.job_ids(batch_id)
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(keys.job(job_id), "status")
            statuses = pipe.execute()
        found = Counter(JobStatus(str(s)) for s in statuses if s)
        return {status: found.get(status, 0) for status in JobStatus}
