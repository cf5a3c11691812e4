"""``/v1/jobs``: accept, list, show and cancel jobs."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from karlo_api.accept import accept_job
from karlo_api.deps import ApiState, OwnJobDep, StateDep, TenantDep, get_own_job
from karlo_api.idempotent import Answer, answer_once
from karlo_api.job_requests import read_job_request
from karlo_api.prefer import requested_wait, wait_until_finished
from karlo_api.problems import Problem, problems_for
from karlo_api.ratelimit import rate_limit_headers, tightest
from karlo_api.timeouts import mark_committed
from karlo_core.idempotency import Claimed
from karlo_core.job_inputs import IMAGES_BY_KIND
from karlo_core.job_listing import list_jobs as list_tenant_jobs
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import CancelOutcome
from karlo_core.metrics import observe_job_finished
from karlo_core.quota.buckets import WindowUsage
from karlo_core.quota.policy import scopes_for
from karlo_core.scheduler import queued_statuses
from karlo_core.views import JobView, job_view

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

CREATE_JOB_EXAMPLES: dict[str, Any] = {
    "generate": {
        "summary": "Text to image: two 1024x768 PNGs with fixed seeds",
        "value": {
            "kind": "generate",
            "input": {
                "prompt": "a cat in a spacesuit, watercolor",
                "negative_prompt": "text, watermark",
                "version": "v2.1",
                "width": 1024,
                "height": 768,
                "samples": 2,
                "seed": [1, 2],
                "image_format": "png",
            },
        },
    },
    "variation": {
        "summary": "Variations of an image fetched from a URL",
        "value": {"kind": "variation", "input": {"image_url": "https://example.com/photo.png", "samples": 2}},
    },
    "inpaint": {
        "summary": "Repaint the black area of a mask",
        "value": {
            "kind": "inpaint",
            "input": {
                "prompt": "a red door",
                "image_url": "https://example.com/house.png",
                "mask_url": "https://example.com/door-mask.png",
            },
        },
    },
    "extend": {
        "summary": "Extend an image 128 px upwards",
        "value": {
            "kind": "extend",
            "input": {"prompt": "more sky", "image_url": "https://example.com/photo.png", "extend": {"top": 128}},
        },
    },
}

CREATE_JOB_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/CreateJobRequest"},
                "examples": CREATE_JOB_EXAMPLES,
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["input"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["generate", "variation", "inpaint", "extend"]},
                        "backend": {"type": "string", "enum": ["karlo", "karlo-open"]},
                        "priority": {"type": "string", "enum": ["high", "normal", "low"], "default": "normal"},
                        "input": {"type": "string", "description": "The job's input object as JSON, without images"},
                        "image": {"type": "string", "format": "binary"},
                        "mask": {"type": "string", "format": "binary"},
                        "webhook": {"type": "string", "description": "The job's `webhook` object as JSON"},
                    },
                }
            },
        },
    }
}


def _view(state: ApiState, job: Job, *, place: bool = True) -> JobView:
    """With ``place``, a queued job shows its queue position and estimated start (a few reads; not for lists)."""
    settings = state.settings
    waiting = place and job.status in queued_statuses()
    return job_view(
        job,
        storage=state.storage,
        base_url=settings.public_base_url.rstrip("/"),
        url_ttl=settings.image_url_ttl_seconds,
        place=state.scheduler.place(job) if waiting else None,
    )


#: An Idempotency-Key's rules: printable ASCII without spaces, at most this long.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"
IDEMPOTENCY_KEY_MAX = 255
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Repeats with the same key and body within 24 h get the job the first one made (as it is now)",
    ),
]
Prefer = Annotated[
    str | None,
    Header(description="`wait=N` (N up to 60): answer when the job finishes, if it does within N seconds"),
]

CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": JobView, "description": "With `Prefer: wait=N`: the job finished within N seconds"},
    **problems_for(401, 409, 413, 415, 422, 429, 503),
}


async def create_job_lean(request: Request) -> Response | None:
    """The common case of :func:`create_job` without FastAPI's routing and dependency resolution
    (:mod:`karlo_api.lean_route`): a Bearer key of a known
    tenant and, if any, an Idempotency-Key within its rules. Anything else (no key, an unknown one, a key
    header breaking its rules) gives None: the declared dependencies then answer it, 401 or 422 as always."""
    headers = request.headers
    scheme, secret = get_authorization_scheme_param(headers.get("authorization"))
    if not secret or scheme.lower() != "bearer":
        return None
    idempotency_key = headers.get("idempotency-key")
    if idempotency_key is not None and (
        len(idempotency_key) > IDEMPOTENCY_KEY_MAX or _IDEMPOTENCY_KEY.fullmatch(idempotency_key) is None
    ):
        return None
    state: ApiState = request.app.state.karloq
    tenant = await state.tenant_cache.tenant(secret)
    if tenant is None:
        return None
    return await _create_job(request, state, tenant, idempotency_key, headers.get("prefer"))


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobView,
    responses=CREATE_RESPONSES,
    openapi_extra=CREATE_JOB_BODY,
)
async def create_job(
    request: Request, state: StateDep, tenant: TenantDep, idempotency_key: IdempotencyKey = None, prefer: Prefer = None
) -> Response:
    """Accept a job (JSON, or multipart with ``image``/``mask`` file parts); it runs in the background.

    Poll ``urls.get`` for its result, or ask for it to be awaited with ``Prefer: wait=N``.
    """
    return await _create_job(request, state, tenant, idempotency_key, prefer)


def route_of(endpoint: Callable[..., Any]) -> APIRoute:
    """This router's route of ``endpoint``."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


async def _create_job(
    request: Request, state: ApiState, tenant: str, idempotency_key: str | None, prefer: str | None
) -> Response:
    raw = await read_job_request(request)

    async def accept(claimed: Claimed | None = None) -> Answer[JobView]:
        return await _accept(request, state, tenant, raw, claimed)

    def replay(job_id: str) -> Answer[JobView]:
        view = _view(state, get_own_job(job_id, state, tenant))
        return Answer(status.HTTP_202_ACCEPTED, view, {"Location": view.urls.get})

    if idempotency_key:
        answer = await answer_once(state, tenant, idempotency_key, raw, accept, replay)
    else:
        answer = await accept()
    wait = requested_wait(prefer, state.settings.max_wait_seconds)
    if wait is None or answer.status_code != status.HTTP_202_ACCEPTED:
        return answer.response()
    job = await wait_until_finished(state.events, state.aredis, tenant, answer.body.id, wait)
    headers = {**answer.headers, "Preference-Applied": f"wait={wait}"}
    if job is None or not job.status.is_terminal:
        return Answer(answer.status_code, answer.body, headers).response()
    return Answer(status.HTTP_200_OK, _view(state, job), headers).response()


async def _accept(
    request: Request, state: ApiState, tenant: str, raw: dict[str, Any], claimed: Claimed | None
) -> Answer[JobView]:
    if _light(raw):  # on the event loop: a thread-pool hop would cost more than the checks
        parsed = state.parser.parse(state.parser.validate(raw), {}, tenant=tenant)
    else:
        job_request = await run_in_threadpool(state.parser.validate, raw)
        fetched = await state.fetcher.fetch_all(tenant, state.parser.image_urls(job_request))
        parsed = await run_in_threadpool(partial(state.parser.parse, job_request, fetched, tenant=tenant))
    mark_committed(request)
    accepted = await accept_job(state, tenant, parsed, claimed)
    view = _view(state, accepted.job, place=not accepted.handed_out)
    headers = {"Location": view.urls.get, **rate_limit_headers(tightest(accepted.usages), state.minute_seconds)}
    return Answer(status.HTTP_202_ACCEPTED, view, headers)


def _light(raw: dict[str, Any]) -> bool:
    """A request whose checks neither decode images nor resolve a webhook's host: a kind without input
    images, and no ``webhook`` of its own."""
    kind = raw.get("kind", JobKind.GENERATE.value)
    return isinstance(kind, str) and kind in IMAGES_BY_KIND and not IMAGES_BY_KIND[kind] and raw.get("webhook") is None


def _quota_usages(state: ApiState, tenant: str) -> list[list[WindowUsage]]:
    """Each quota scope's windows: the upstream account, then the tenant's share when one is set."""
    plan = state.plans.get(tenant)
    return state.quota.usages(scopes_for(state.settings, tenant, plan))


class JobPage(BaseModel):
    data: list[JobView] = Field(description="Jobs, newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


@router.get("", response_model=JobPage, responses=problems_for(401, 422, 503))
def list_jobs(
    state: StateDep,
    tenant: TenantDep,
    job_status: Annotated[list[JobStatus] | None, Query(alias="status", description="Only these statuses")] = None,
    kind: Annotated[list[JobKind] | None, Query(description="Only these kinds")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[
        str | None, Query(min_length=26, max_length=26, pattern="^[0-9a-z]{26}$", description="`next_cursor`")
    ] = None,
    batch: Annotated[
        str | None, Query(min_length=26, max_length=26, pattern="^[0-9a-z]{26}$", description="Only this batch's jobs")
    ] = None,
) -> JobPage:
    """The tenant's jobs, newest first, a page at a time; filters apply before paging."""
    from karlo_api.routes.batches import batch_job_ids  # the batches routes build on this module

    def batch_page(before: str | None, count: int) -> list[str]:
        assert batch is not None
        return batch_job_ids(state, tenant, batch, before=before, count=count)

    page = list_tenant_jobs(
        state.tenant_jobs,
        state.store,
        tenant,
        limit=limit,
        cursor=cursor,
        statuses=job_status or (),
        kinds=kind or (),
        ids_from=batch_page if batch is not None else None,
    )
    return JobPage(data=[_view(state, j, place=False) for j in page.jobs], next_cursor=page.next_cursor)


@router.get("/{job_id}", response_model=JobView, responses=problems_for(401, 404, 422, 503))
def read_job(job: OwnJobDep, state: StateDep) -> JobView:
    """The job as it stands now, with fresh links to its images once it has succeeded."""
    return _view(state, job)


CANCEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": JobView,
        "description": "The job is running: it ends canceled as soon as Karlo answers (on karlo-open, after the "
        "denoising step in progress)",
    },
    **problems_for(401, 404, 409, 422, 503),
}


@router.post("/{job_id}/cancel", response_model=JobView, responses=CANCEL_RESPONSES)
def cancel_job(before: OwnJobDep, state: StateDep) -> JSONResponse:
    """Cancel a job: a queued or waiting one at once (200); a running one once Karlo answers (202), with
    its quota spent. Canceling a canceled job is a no-op; a finished one is a 409."""
    job_id = before.id
    outcome = state.store.cancel(job_id)
    if outcome is CancelOutcome.CANCELED and not before.status.is_terminal:
        observe_job_finished(before.kind.value, JobStatus.CANCELED.value, created_at=before.created_at)
    if outcome in (CancelOutcome.SUCCEEDED, CancelOutcome.FAILED):
        raise Problem(409, "job-finished", "The job has already finished", f"job {job_id} {outcome.value}")
    job = state.store.get(job_id) or before
    code = status.HTTP_202_ACCEPTED if outcome is CancelOutcome.REQUESTED else status.HTTP_200_OK
    return JSONResponse(_view(state, job).model_dump(mode="json"), status_code=code)
