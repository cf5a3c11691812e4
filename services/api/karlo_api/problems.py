"""Every error answer is RFC 9457 ``application/problem+json``; this module is the one place that says so.

Routes raise :class:`Problem` for what only HTTP knows (a missing API key, a bad link); the core's errors
(:class:`karlo_core.errors.KarloQueueError`) reach the client through one table, :data:`CORE_ERROR_PROBLEMS`,
so helpers outside the routes raise the core's errors and never choose a status code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from karlo_core.errors import (
    BlockedDestination,
    JobNotFound,
    KarloQueueError,
    QueueUnavailable,
    StorageError,
    TooManyActiveJobs,
    TooManyInputFetches,
    UpstreamError,
    WebhookSecretMissing,
)
from karlo_core.jobstore import KeyTaken

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error answer raised from a route: status, a type slug, a title and a detail."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{problem.slug}", "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    body.update(problem.extra)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "input", "seed", 0)`` -> ``input.seed[0]``."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


#: What every route says of a body that is not JSON (FastAPI reports where the parser stopped, as a "field").
JSON_INVALID = {"field": "body", "rule": "json_invalid", "message": "is not valid JSON"}


def validation_problem(errors: Sequence[Any]) -> Problem:
    """422 from pydantic errors: every broken rule with the field it concerns."""
    items = [
        JSON_INVALID
        if e.get("type") == "json_invalid"
        else {
            "field": field_path(e.get("loc", ())),
            "rule": e.get("type", "invalid"),
            "message": str(e.get("msg", "invalid value")).removeprefix("Value error, "),
        }
        for e in errors
    ]
    return invalid_input(items)


def invalid_input(items: list[dict[str, str]]) -> Problem:
    """422 naming each ``{field, rule, message}`` broken."""
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in items[:5])
    return Problem(422, "validation-error", "Your request is not valid", detail, extra={"errors": items})


def unsupported_media_type(given: str, accepted: Sequence[str]) -> Problem:
    """415 for a body of a type the route does not read, naming the types it does."""
    detail = f"send the body as {' or '.join(accepted)}, not {given or 'a body without Content-Type'}"
    headers = {"Accept-Post": ", ".join(accepted)}
    return Problem(415, "unsupported-media-type", "Unsupported media type", detail, headers=headers)


class ProblemItem(BaseModel):
    field: str = Field(description="The field broken, e.g. `input.width` or `Idempotency-Key`")
    rule: str = Field(description="The rule it broke, e.g. `literal_error`, `image`, `english_only`")
    message: str = Field(description="What is wrong with it, for people")


class ProblemDocument(BaseModel):
    """The RFC 9457 body of every error answer."""

    type: str = Field(description="`/problems/<slug>`: a stable identifier of the kind of problem")
    title: str = Field(description="A short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str | None = Field(default=None, description="What went wrong in this case")
    errors: list[ProblemItem] | None = Field(default=None, description="With 422: each field and rule broken")


PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/ProblemDocument"}

_RESPONSE_DESCRIPTIONS = {
    400: "The body could not be read (for instance, not UTF-8)",
    401: "No valid API key (`Authorization: Bearer kq_...`)",
    403: "The link is invalid or has expired",
    404: "No such resource for this tenant",
    409: "Conflicts with the resource's current state",
    413: "The request body is larger than the limit",
    415: "The body is of a type this route does not read: `Accept-Post` names the ones it does",
    422: "The request is not valid: `errors` names each field and rule",
    429: "A limit is reached: see `Retry-After`",
    503: "A dependency is unavailable or the request took too long: see `Retry-After`",
}


def problems_for(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, each an ``application/problem+json`` body."""
    return {
        code: {"description": _RESPONSE_DESCRIPTIONS[code], "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA_REF}}}
        for code in codes
    }


RETRY_SOON = {"Retry-After": "5"}


def _too_many_active_jobs(error: KarloQueueError) -> Problem:
    return Problem(429, "too-many-active-jobs", "Too many jobs in progress", str(error), headers={"Retry-After": "10"})


def _too_many_input_fetches(error: KarloQueueError) -> Problem:
    title = "Too many input images being fetched"
    return Problem(429, "too-many-input-fetches", title, str(error), headers={"Retry-After": "2"})


def _storage_unavailable(_: KarloQueueError) -> Problem:
    detail = "the image store does not answer; nothing was accepted or changed"
    return Problem(503, "storage-unavailable", "Image storage is unavailable", detail, headers=RETRY_SOON)


def _queue_unavailable(_: KarloQueueError) -> Problem:
    title = "The job queue is unavailable; nothing was accepted"
    return Problem(503, "queue-unavailable", title, headers=RETRY_SOON)


def _blocked_destination(error: KarloQueueError) -> Problem:
    return invalid_input([{"field": "url", "rule": "public_destination", "message": str(error)}])


def _key_taken(_: KarloQueueError) -> Problem:
    title = "Another request with this Idempotency-Key took over"
    return Problem(409, "idempotency-key-in-flight", title, headers={"Retry-After": "1"})


def _webhook_secret_missing(_: KarloQueueError) -> Problem:
    detail = "create one with POST /v1/webhooks/secret/rotate (it is shown once), then set webhook URLs"
    return Problem(409, "webhook-secret-missing", "No webhook signing secret", detail)


def _upstream_error(_: KarloQueueError) -> Problem:
    return Problem(502, "upstream-error", "Karlo did not answer as expected", headers=RETRY_SOON)


def _internal_error(_: KarloQueueError) -> Problem:
    return Problem(500, "internal-error", "Internal server error")


#: The answer to each core error a route lets through; a subclass not listed answers as its nearest listed base.
CORE_ERROR_PROBLEMS: dict[type[KarloQueueError], Callable[[KarloQueueError], Problem]] = {
    JobNotFound: lambda error: Problem(404, "job-not-found", "Job not found", str(error)),
    TooManyActiveJobs: _too_many_active_jobs,
    TooManyInputFetches: _too_many_input_fetches,
    StorageError: _storage_unavailable,
    QueueUnavailable: _queue_unavailable,
    KeyTaken: _key_taken,
    BlockedDestination: _blocked_destination,
    WebhookSecretMissing: _webhook_secret_missing,
    UpstreamError: _upstream_error,
    KarloQueueError: _internal_error,
}


def problem_for(error: KarloQueueError) -> Problem:
    """The problem :data:`CORE_ERROR_PROBLEMS` gives the error's class or its nearest base."""
    for cls in type(error).__mro__:
        if cls in CORE_ERROR_PROBLEMS:
            return CORE_ERROR_PROBLEMS[cls](error)
    return _internal_error(error)


#: The answer to any request that finds Redis unreachable.
STORE_UNAVAILABLE = Problem(
    503,
    "store-unavailable",
    "The job store is unavailable",
    "Redis does not answer; retry after a few seconds (with the same Idempotency-Key for a job)",
    headers={"Retry-After": "5"},
)

_HTTP_TITLES = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    400: ("bad-request", "Bad request"),
    413: ("payload-too-large", "Request body too large"),
}


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(validation_problem(exc.errors()))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "Request failed"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(Problem(exc.status_code, slug, title, detail, headers=headers))

    async def on_core_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, KarloQueueError)
        problem = problem_for(exc)
        if problem.status >= 500:
            log.warning("request failed", extra={"path": request.url.path, "error": type(exc).__name__})
        return problem_response(problem)

    async def on_store_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("Redis unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
        return problem_response(STORE_UNAVAILABLE)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(Problem(500, "internal-error", "Internal server error"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(KarloQueueError, on_core_error)
    # Redis down or restarting (loading its append-only file): a moment's outage, not a bug.
    app.add_exception_handler(redis.exceptions.ConnectionError, on_store_down)
    app.add_exception_handler(redis.exceptions.TimeoutError, on_store_down)
    app.add_exception_handler(Exception, on_unexpected)
