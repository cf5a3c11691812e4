"""Job records for tests of the store and what reads it: one queued generate job, created in Redis."""

from __future__ import annotations

import time
from typing import Any

from karlo_core.idempotency import Claimed
from karlo_core.ids import new_job_id
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import EventRetention, JobStore


def new_job(**fields: Any) -> Job:
    """A queued generate job, not stored; ``fields`` override any of the record's fields."""
    values: dict[str, Any] = {
        "id": new_job_id(),
        "kind": JobKind.GENERATE,
        "status": JobStatus.QUEUED,
        "params": GenerateParams(prompt="p"),
        "created_at": time.time(),
        **fields,
    }
    return Job(**values)


def create_job(
    store: JobStore,
    *,
    grace: float = 60.0,
    idempotency: Claimed | None = None,
    events: EventRetention | None = None,
    **fields: Any,
) -> Job:
    """A queued generate job, stored with a dispatch deadline ``grace`` seconds away (and recorded under an
    Idempotency-Key's claim, if given; its events in its tenant's stream with ``events``); ``fields`` override
    any of the record's fields."""
    job = new_job(**fields)
    assert store.create(job, dispatch_grace=grace, idempotency=idempotency, events=events)
    return job
