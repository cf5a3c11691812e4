"""``/v1/jobs``: accept a job, show a job."""

from __future__ import annotations

import logging
import time
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict

from karlo_api.deps import ApiState, StateDep, TenantDep
from karlo_api.problems import Problem
from karlo_api.views import JobView, job_view
from karlo_core.ids import is_job_id, new_job_id
from karlo_core.jobs import GenerateInput, Job, JobKind, JobStatus
from karlo_core.queue import enqueue_job

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class CreateJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["generate"] = "generate"
    input: GenerateInput


def _view(state: ApiState, job: Job) -> JobView:
    settings = state.settings
    return job_view(
        job,
        storage=state.storage,
        base_url=settings.public_base_url.rstrip("/"),
        url_ttl=settings.image_url_ttl_seconds,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobView)
def create_job(body: CreateJobRequest, state: StateDep, tenant: TenantDep, response: Response) -> JobView:
    """Accept a job; it runs in the background. Poll ``urls.get`` for its result."""
    job = Job(
        id=new_job_id(),
        kind=JobKind(body.kind),
        status=JobStatus.QUEUED,
        input=body.input.model_dump(mode="json", exclude_none=True),
        created_at=time.time(),
        tenant=tenant,
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
    log.info("job accepted", extra={"job_id": job.id, "kind": job.kind.value})
    view = _view(state, job)
    response.headers["Location"] = view.urls.get
    return view


@router.get("/{job_id}", response_model=JobView)
def read_job(job_id: str, state: StateDep, tenant: TenantDep) -> JobView:
    """The job as it stands now, with fresh links to its images once it has succeeded."""
    job = state.store.get(job_id) if is_job_id(job_id) else None
    if job is None or job.tenant != tenant:
        raise Problem(404, "job-not-found", "Job not found", f"no job with id {job_id!r}")
    return _view(state, job)
