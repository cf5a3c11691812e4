"""``/v1/batches``: accept many jobs in one request, follow them together, cancel what has not finished."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from karlo_api.accept import accept_batch
from karlo_api.batch_requests import BatchRequest, parse_batch, read_batch_request
from karlo_api.deps import ApiState, StateDep, TenantDep
from karlo_api.idempotent import Answer, answer_once
from karlo_api.problems import Problem, problems_for
from karlo_api.ratelimit import limited, rate_limit_headers, refuse_if_spent, tightest
from karlo_api.routes.jobs import IdempotencyKey
from karlo_api.routes.jobs import _quota_usages as quota_usages
from karlo_api.timeouts import mark_committed
from karlo_core.batch_views import BatchView, batch_view
from karlo_core.batches import Batch
from karlo_core.idempotency import Claimed
from karlo_core.ids import is_job_id
from karlo_core.jobs import JobStatus
from karlo_core.jobstore import CancelOutcome
from karlo_core.metrics import BATCHES, observe_job_finished

router = APIRouter(prefix="/v1/batches", tags=["batches"])

_JOB_ITEMS = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1000,
    "items": {"$ref": "#/components/schemas/CreateJobRequest"},
}
CREATE_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["jobs"],
                    "additionalProperties": False,
                    "properties": {
                        "jobs": _JOB_ITEMS,
                        "webhook": {
                            "$ref": "#/components/schemas/WebhookOption",
                            "description": "Receives `batch.completed`, and the events of jobs that name no webhook",
                        },
                    },
                },
                "example": {"jobs": [{"input": {"prompt": "a red fox"}}, {"input": {"prompt": "a blue jay"}}]},
            },
            "application/jsonl": {
                "schema": {"type": "string", "description": "JSON Lines: one create-job body a line"},
            },
        },
    }
}


def batch_view_of(state: ApiState, batch: Batch) -> BatchView:
    counts = state.batches.status_counts(batch.id)
    return batch_view(batch, counts, base_url=state.settings.public_base_url.rstrip("/"))


def _own_batch(state: ApiState, tenant: str, batch_id: str) -> Batch:
    """The tenant's batch; another tenant's batch is as missing as one that never existed."""
    batch = state.batches.get(batch_id) if is_job_id(batch_id) else None
    if batch is None or batch.tenant != tenant:
        raise Problem(404, "batch-not-found", "Batch not found", f"no batch with id {batch_id!r}")
    return batch


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchView,
    responses=problems_for(401, 409, 413, 415, 422, 429, 503),
    openapi_extra=CREATE_BATCH_BODY,
)
async def create_batch(
    request: Request, state: StateDep, tenant: TenantDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Accept up to 1,000 jobs at once (JSON, or JSON Lines as `application/jsonl`), all or nothing: any invalid
    job refuses the batch, listing every bad item by index and field. Jobs run like single ones; one
    `batch.completed` event (webhook and stream) follows when every one has finished."""
    batch = await read_batch_request(request, max_jobs=state.settings.max_batch_jobs)

    async def accept(claimed: Claimed | None = None) -> Answer[BatchView]:
        return await _accept(request, state, tenant, batch, claimed)

    def replay(batch_id: str) -> Answer[BatchView]:
        view = batch_view_of(state, _own_batch(state, tenant, batch_id))
        return Answer(status.HTTP_202_ACCEPTED, view, {"Location": view.urls.get})

    try:
        if idempotency_key:
            answer = await answer_once(state, tenant, idempotency_key, batch.fingerprinted(), accept, replay)
        else:
            answer = await accept()
    except Problem as problem:
        BATCHES.labels("invalid" if problem.status == 422 else "refused").inc()
        raise
    if not answer.headers.get("Idempotent-Replayed"):
        BATCHES.labels("accepted").inc()
    return answer.response()


async def _accept(
    request: Request, state: ApiState, tenant: str, request_batch: BatchRequest, claimed: Claimed | None
) -> Answer[BatchView]:
    parsed = await parse_batch(state, tenant, request_batch)
    scopes = await run_in_threadpool(quota_usages, state, tenant)
    if len(scopes) > 1:  # the tenant's own share, after the upstream account
        images = sum(job.params.samples for job in parsed.jobs)
        refuse_if_spent(limited(scopes[-1]), images, scopes, state.minute_seconds)
    mark_committed(request)
    batch = await run_in_threadpool(accept_batch, state, tenant, parsed.jobs, parsed.webhook, claimed)
    view = await run_in_threadpool(batch_view_of, state, batch)
    headers = {"Location": view.urls.get, **rate_limit_headers(tightest(scopes), state.minute_seconds)}
    return Answer(status.HTTP_202_ACCEPTED, view, headers)


@router.get("/{batch_id}", response_model=BatchView, responses=problems_for(401, 404, 422, 503))
def read_batch(batch_id: str, state: StateDep, tenant: TenantDep) -> BatchView:
    """The batch now: how many of its jobs are in each status, and its progress."""
    return batch_view_of(state, _own_batch(state, tenant, batch_id))


@router.post("/{batch_id}/cancel", response_model=BatchView, responses=problems_for(401, 404, 422, 503))
def cancel_batch(batch_id: str, state: StateDep, tenant: TenantDep) -> BatchView:
    """Cancel every job of the batch that has not finished: queued and waiting ones at once, running ones once
    Karlo answers. Finished jobs keep their outcome."""
    batch = _own_batch(state, tenant, batch_id)
    jobs = [job for job in state.store.get_many(state.batches.job_ids(batch.id)) if job is not None]
    open_jobs = [job for job in jobs if not job.status.is_terminal]
    outcomes = state.store.cancel_many([job.id for job in open_jobs])
    for job, outcome in zip(open_jobs, outcomes, strict=True):
        if outcome is CancelOutcome.CANCELED:
            observe_job_finished(job.kind.value, JobStatus.CANCELED.value, created_at=job.created_at)
    return batch_view_of(state, batch)


def batch_job_ids(state: ApiState, tenant: str, batch_id: str, *, before: str | None, count: int) -> list[str]:
    """A page of a batch's job ids, newest first (as ``GET /v1/jobs`` pages); none for another tenant's."""
    batch = state.batches.get(batch_id) if is_job_id(batch_id) else None
    if batch is None or batch.tenant != tenant:
        return []
    ids = sorted(state.batches.job_ids(batch_id), reverse=True)
    return [job_id for job_id in ids if before is None or job_id < before][:count]
