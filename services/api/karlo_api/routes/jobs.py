"""``/v1/jobs``: accept a job, show a job."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from karlo_api.deps import ApiState, StateDep, TenantDep
from karlo_api.job_requests import ParsedJob, read_job_request
from karlo_api.problems import Problem
from karlo_api.ratelimit import limited, rate_limit_headers, refuse_if_spent
from karlo_api.views import JobView, job_view
from karlo_core.errors import StorageError
from karlo_core.ids import is_job_id, new_job_id
from karlo_core.jobs import Job, JobStatus
from karlo_core.karlo import rules
from karlo_core.metrics import JOBS_ACCEPTED
from karlo_core.queue import enqueue_job
from karlo_core.quota.policy import tenant_scope, upstream_scope
from karlo_core.storage import input_key

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

CREATE_JOB_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CreateJobRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["input"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["generate", "variation", "inpaint", "extend"]},
                        "input": {"type": "string", "description": "The job's input object as JSON, without images"},
                        "image": {"type": "string", "format": "binary"},
                        "mask": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


def _view(state: ApiState, job: Job) -> JobView:
    settings = state.settings
    return job_view(
        job,
        storage=state.storage,
        base_url=settings.public_base_url.rstrip("/"),
        url_ttl=settings.image_url_ttl_seconds,
    )


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


def _accept(state: ApiState, tenant: str, parsed: ParsedJob) -> Job:
    job_id = new_job_id()
    try:
        stored = _store_inputs(state, job_id, parsed)
    except StorageError as exc:
        raise Problem(
            503,
            "storage-unavailable",
            "Image storage is unavailable; nothing was accepted",
            headers={"Retry-After": "5"},
        ) from exc
    job = Job(
        id=job_id,
        kind=parsed.kind,
        status=JobStatus.QUEUED,
        input={**parsed.params, **stored},
        created_at=time.time(),
        tenant=tenant,
        notices=parsed.notices,
    )
    state.store.create(job, dispatch_grace=state.settings.dispatch_grace_seconds)
    try:
        enqueue_job(state.celery, job.id)
    except Exception as exc:
        state.store.delete(job.id)
        log.exception("enqueue failed; job withdrawn", extra={"job_id": job.id})
        raise Problem(
            503, "queue-unavailable", "The job queue is unavailable; nothing was accepted", headers={"Retry-After": "5"}
        ) from exc
    JOBS_ACCEPTED.labels(job.kind.value).inc()
    log.info("job accepted", extra={"job_id": job.id, "kind": job.kind.value, "tenant": tenant})
    return job


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobView, openapi_extra=CREATE_JOB_BODY)
async def create_job(request: Request, state: StateDep, tenant: TenantDep, response: Response) -> JobView:
    """Accept a job (JSON, or multipart with ``image``/``mask`` file parts); it runs in the background.

    Poll ``urls.get`` for its result.
    """
    raw = await read_job_request(request)
    parsed = await run_in_threadpool(state.parser.parse, raw)
    own = tenant_scope(state.settings, tenant)
    usages = limited(await run_in_threadpool(state.quota.usage, own or upstream_scope(state.settings)))
    if own is not None:
        refuse_if_spent(usages, int(parsed.params.get("samples", 1)), state.minute_seconds)
    job = await run_in_threadpool(_accept, state, tenant, parsed)
    view = _view(state, job)
    response.headers["Location"] = view.urls.get
    response.headers.update(rate_limit_headers(usages, state.minute_seconds))
    return view


@router.get("/{job_id}", response_model=JobView)
def read_job(job_id: str, state: StateDep, tenant: TenantDep) -> JobView:
    """The job as it stands now, with fresh links to its images once it has succeeded."""
    job = state.store.get(job_id) if is_job_id(job_id) else None
    if job is None or job.tenant != tenant:
        raise Problem(404, "job-not-found", "Job not found", f"no job with id {job_id!r}")
    return _view(state, job)
