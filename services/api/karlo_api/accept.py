"""Accepting a checked job: admit it under the tenant's cap, store its input images, record it, enqueue it.

Whatever fails on the way is undone, so a refused request leaves no job, index entry or message behind.
Refusals are the core's errors (TooManyActiveJobs, StorageError, KeyTaken, QueueUnavailable); the API answers each with
the problem ``problems.CORE_ERROR_PROBLEMS`` gives it.
"""

from __future__ import annotations

import logging
import time

from karlo_api.deps import ApiState
from karlo_api.job_requests import ParsedJob
from karlo_api.webhook_targets import webhook_target
from karlo_core.backends.catalogue import backend_queue
from karlo_core.errors import QueueUnavailable, TooManyActiveJobs
from karlo_core.idempotency import Claimed
from karlo_core.ids import new_job_id
from karlo_core.jobs import Job, JobStatus, StoredInput
from karlo_core.karlo import rules
from karlo_core.metrics import JOBS_ACCEPTED
from karlo_core.queue import enqueue_job
from karlo_core.storage import input_key

log = logging.getLogger(__name__)


def accept_job(state: ApiState, tenant: str, parsed: ParsedJob, claimed: Claimed | None = None) -> Job:
    """Admit, record and enqueue the job; with ``claimed``, its Idempotency-Key names it from creation on."""
    webhook = webhook_target(state, tenant, parsed.webhook)
    job_id = new_job_id()
    cap = state.settings.max_active_jobs_per_tenant
    if not state.tenant_jobs.admit(tenant, job_id, cap=cap):
        raise TooManyActiveJobs(cap)
    try:
        return _record_and_enqueue(state, tenant, job_id, parsed, webhook, claimed)
    except BaseException:
        state.tenant_jobs.withdraw(tenant, job_id)
        raise


def _record_and_enqueue(
    state: ApiState,
    tenant: str,
    job_id: str,
    parsed: ParsedJob,
    webhook: tuple[str | None, str],
    claimed: Claimed | None,
) -> Job:
    job = Job(
        id=job_id,
        kind=parsed.kind,
        status=JobStatus.QUEUED,
        params=parsed.params,
        inputs=_store_inputs(state, job_id, parsed),
        canvas=parsed.canvas,
        created_at=time.time(),
        tenant=tenant,
        notices=parsed.notices,
        webhook_url=webhook[0],
        webhook_events=webhook[1],
        backend=parsed.backend,
    )
    # due soon, in case this process dies before the message is sent
    state.store.create(job, dispatch_grace=state.settings.dispatch_confirm_seconds, idempotency=claimed)
    try:
        enqueue_job(state.celery, job.id, queue=backend_queue(job.backend))
    except Exception as exc:
        state.store.delete(job.id)
        log.exception("enqueue failed; job withdrawn", extra={"job_id": job.id})
        raise QueueUnavailable(str(exc)) from exc
    state.store.dispatched(job.id, grace=state.settings.dispatch_grace_seconds)
    state.durability.wait()  # KARLOQ_ACCEPT_DURABILITY: what the 202 promises
    JOBS_ACCEPTED.labels(job.kind.value).inc()
    log.info("job accepted", extra={"job_id": job.id, "kind": job.kind.value, "tenant": tenant})
    return job


def _store_inputs(state: ApiState, job_id: str, parsed: ParsedJob) -> dict[str, StoredInput]:
    """Input images go to storage before the job exists; the record keeps their keys."""
    stored: dict[str, StoredInput] = {}
    for name, image in parsed.images.items():
        info = image.info
        key = input_key(job_id, name, info.format)
        state.storage.put(key, image.data, rules.CONTENT_TYPES[info.format])
        stored[name] = StoredInput(key, info.format, info.width, info.height, len(image.data))
    return stored
