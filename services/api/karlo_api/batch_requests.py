"""Reading a ``POST /v1/batches`` body: JSON ``{"jobs": [...], "webhook": {...}}`` or JSON Lines (one job a line).

Every job is checked by the same parser, in the same steps, as ``POST /v1/jobs``; any invalid item refuses the
whole batch, with every broken rule of every item, each named by its index (``jobs[3].input.width``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from karlo_api.deps import ApiState
from karlo_api.input_fetch import Fetched
from karlo_api.job_requests import AnyJob, ParsedJob
from karlo_api.problems import Problem, invalid_input, problem_for, unsupported_media_type, validation_problem
from karlo_api.webhook_urls import webhook_url_issues
from karlo_core.backends.catalogue import UnsupportedByBackend
from karlo_core.webhooks.events import WebhookOption

JSON_LINES = "application/jsonl"
#: The bodies ``POST /v1/batches`` reads; any other ``Content-Type`` is a 415 and nothing is stored.
BATCH_MEDIA_TYPES = ("application/json", JSON_LINES)


@dataclass(frozen=True)
class BatchRequest:
    jobs: list[Any]
    webhook: Any = None

    def fingerprinted(self) -> dict[str, Any]:
        """The request as a whole, for ``Idempotency-Key``."""
        return {"jobs": self.jobs, "webhook": self.webhook}


@dataclass(frozen=True)
class ParsedBatch:
    jobs: list[ParsedJob]
    webhook: WebhookOption | None


def _issue(field: str, rule: str, message: str, index: int | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"field": field, "rule": rule, "message": message}
    if index is not None:
        issue["index"] = index
    return issue


async def read_batch_request(request: Request, *, max_jobs: int) -> BatchRequest:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in BATCH_MEDIA_TYPES:
        raise unsupported_media_type(media_type, BATCH_MEDIA_TYPES)
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_input([_issue("body", "utf8", "must be UTF-8")]) from None
    batch = _json_lines(text) if media_type == JSON_LINES else _json_body(text)
    if not batch.jobs:
        raise invalid_input([_issue("jobs", "too_short", "must hold at least one job")])
    if len(batch.jobs) > max_jobs:
        raise invalid_input([_issue("jobs", "too_long", f"holds {len(batch.jobs)} jobs; at most {max_jobs}")])
    return batch


def _json_body(text: str) -> BatchRequest:
    try:
        raw = json.loads(text)
    except ValueError:
        raise invalid_input([_issue("body", "json_invalid", "is not valid JSON")]) from None
    except RecursionError:
        raise invalid_input([_issue("body", "json_depth", "is nested too deeply to be a batch")]) from None
    if not isinstance(raw, dict):
        raise invalid_input([_issue("body", "object_type", "must be a JSON object")])
    unknown = sorted(set(raw) - {"jobs", "webhook"})
    if unknown:
        raise invalid_input([_issue(name, "extra_forbidden", "is not a batch field") for name in unknown])
    jobs = raw.get("jobs")
    if not isinstance(jobs, list):
        raise invalid_input([_issue("jobs", "list_type", "must be a list of jobs")])
    return BatchRequest(jobs, raw.get("webhook"))


def _json_lines(text: str) -> BatchRequest:
    jobs: list[Any] = []
    issues = []
    for number, line in enumerate(line for line in text.splitlines() if line.strip()):
        try:
            jobs.append(json.loads(line))
        except (ValueError, RecursionError):
            jobs.append(None)
            issues.append(_issue(f"jobs[{number}]", "json_invalid", "is not valid JSON", number))
    if issues:
        raise invalid_input(issues)
    return BatchRequest(jobs)


async def parse_batch(state: ApiState, tenant: str, batch: BatchRequest) -> ParsedBatch:
    """Check every job (and the batch's webhook) as ``POST /v1/jobs`` checks one: validate each, fetch the
    input-image URLs they name, then parse them all; 422 listing every bad item by index and field."""
    checked = await run_in_threadpool(_validate_all, state, tenant, batch)
    fetched = [await state.fetcher.fetch_all(tenant, state.parser.image_urls(job)) for _, job in checked.jobs]
    parsed, issues = await run_in_threadpool(_parse_all, state, tenant, checked.jobs, fetched)
    issues = checked.issues + issues
    if issues:
        raise invalid_input(sorted(issues, key=lambda issue: issue.get("index", -1)))
    return ParsedBatch(parsed, checked.webhook)


@dataclass(frozen=True)
class _Validated:
    jobs: list[tuple[int, AnyJob]]
    webhook: WebhookOption | None
    issues: list[dict[str, Any]]


def _validate_all(state: ApiState, tenant: str, batch: BatchRequest) -> _Validated:
    issues: list[dict[str, Any]] = []
    webhook = None
    if batch.webhook is not None:
        try:
            webhook = WebhookOption.model_validate(batch.webhook)
        except ValidationError as exc:
            errors = [{**e, "loc": ("webhook", *e.get("loc", ()))} for e in exc.errors()]
            issues += validation_problem(errors).extra["errors"]
        else:
            issues += webhook_url_issues(state.webhook_guards.for_tenant(tenant), webhook.url, "webhook.url")
    jobs: list[tuple[int, AnyJob]] = []
    for index, item in enumerate(batch.jobs):
        if not isinstance(item, dict):
            issues.append(_issue(f"jobs[{index}]", "object_type", "must be a JSON object", index))
            continue
        try:
            jobs.append((index, state.parser.validate(item)))
        except (Problem, UnsupportedByBackend) as problem:
            issues += _item_issues(problem, index)
    return _Validated(jobs, webhook, issues)


def _parse_all(
    state: ApiState, tenant: str, jobs: list[tuple[int, AnyJob]], fetched: list[dict[str, Fetched]]
) -> tuple[list[ParsedJob], list[dict[str, Any]]]:
    parsed: list[ParsedJob] = []
    issues: list[dict[str, Any]] = []
    for (index, job), images in zip(jobs, fetched, strict=True):
        try:
            parsed.append(state.parser.parse(job, images, tenant=tenant))
        except (Problem, UnsupportedByBackend) as problem:
            issues += _item_issues(problem, index)
    return parsed, issues


def _item_issues(refusal: Problem | UnsupportedByBackend, index: int) -> list[dict[str, Any]]:
    """A job's 422 issues, each named by the item's index (``jobs[3].input.width``); a backend's refusal reads
    as the problem it answers for a single job."""
    problem = problem_for(refusal) if isinstance(refusal, UnsupportedByBackend) else refusal
    if problem.status != 422:
        raise problem
    return [{**e, "field": f"jobs[{index}].{e['field']}", "index": index} for e in problem.extra.get("errors", [])]
