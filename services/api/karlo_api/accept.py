"""Accepting a checked job: admit it under the tenant's cap, store its input images, record it, enqueue it.

Whatever fails on the way is undone, so a refused request leaves no job, index entry or message behind.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from karlo_api.deps import ApiState
from karlo_api.job_requests import ParsedJob
from karlo_api.problems import Problem
from karlo_api.webhook_targets import webhook_target
from karlo_core.backends.catalogue import backend_queue
from karlo_core.errors import StorageError
from karlo_core.ids import new_job_id
from karlo_core.jobs import Job, JobStatus
from karlo_core.karlo import rules
from karlo_core.metrics import JOBS_ACCEPTED
from karlo_core.queue import enqueue_job
from karlo_core.storage import input_key

log = logging.getLogger(__name__)

RETRY_SOON = {"Retry-After": "5"}


def accept_job(state: ApiState, tenant: str, parsed: ParsedJob) -> Job:
    webhook = webhook_target(state, tenant, parsed.webhook)
    job_id = new_job_id()
    cap = state.settings.max_active_jobs_per_tenant
    if not state.tenant_jobs.admit(tenant, job_id, cap=cap):
        raise Problem(
            429,
            "too-many-active-jobs",
            "Too many jobs in progress",
            f"at most {cap} jobs may be queued, waiting or running at once; wait for some to finish",
            headers={"Retry-After": "10"},
        )
    try:
        return _record_and_enqueue(state, tenant, job_id, parsed, webhook)
    except BaseException:
        state.tenant_jobs.withdraw(tenant, job_id)
        raise


def _record_and_enqueue(
    state: ApiState, tenant: str, job_id: str, parsed: ParsedJob, webhook: tuple[str | None, str]
) -> Job:
    try:
        stored = _store_inputs(state, job_id, parsed)
    except StorageError as exc:
        raise Problem(
            503, "storage-unavailable", "Image storage is unavailable; nothing was accepted", headers=RETRY_SOON
        ) from exc
    job = Job(
        id=job_id,
        kind=parsed.kind,
        status=JobStatus.QUEUED,
        input={**parsed.params, **stored},
        created_at=time.time(),
        tenant=tenant,
        notices=parsed.notices,
        webhook_url=webhook[0],
        webhook_events=webhook[1],
        backend=parsed.backend,
    )
    state.store.create(job, dispatch_grace=state.settings.dispatch_grace_seconds)
    try:
        enqueue_job(state.celery, job.id, queue=backend_queue(job.backend))
    except Exception as exc:
        state.store.delete(job.id)
        log.exception("enqueue failed; job withdrawn", extra={"job_id": job.id})
        raise Problem(
            503, "queue-unavailable", "The job queue is unavailable; nothing was accepted", headers=RETRY_SOON
        ) from exc
    state.durability.wait()  # KARLOQ_ACCEPT_DURABILITY: what the 202 promises
    JOBS_ACCEPTED.labels(job.kind.value).inc()
    log.info("job accepted", extra={"job_id": job.id, "kind": job.kind.value, "tenant": tenant})
    return job


def _store_inputs(state: ApiState, job_id: str, parsed: ParsedJob) -> dict[str, Any]:
    """Input images go to storage before the job exists; the record keeps their keys."""
    stored: dict[str, Any] = {}
    for name, image in parsed.images.items():
        key = input_key(job_id, name, image.info.format)
        state.storage.put(key, image.data, rules.CONTENT_TYPES[image.info.format])
        info = image.info
        stored[name] = {
            "key": key,
            "format": info.format,
            "width": info.width,
            "height": info.height,
            "bytes": len(image.data),
        }
    return stored
