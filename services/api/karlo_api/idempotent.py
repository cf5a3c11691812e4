"""``Idempotency-Key`` on job creation: the job a key made answers every repeat for 24 h.

The job is recorded under the key in the step that creates it, so a repeat after the API died mid-request
gets that job; a request that dies before making one holds the key only for a short lease. A refused request
(invalid input, quota, an outage) releases the key, so the caller may fix the request or retry it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from karlo_api.deps import ApiState
from karlo_api.problems import Problem
from karlo_core import idempotency

JSON = "application/json"


View = TypeVar("View", bound=BaseModel)


@dataclass(frozen=True)
class Answer(Generic[View]):
    status_code: int
    body: View
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        """The body as JSON, serialized straight from the view by pydantic's compiled serializer (no dict of
        it built first)."""
        return Response(
            self.body.model_dump_json(), status_code=self.status_code, headers=self.headers, media_type=JSON
        )


async def answer_once(
    state: ApiState,
    tenant: str,
    key: str,
    request_body: Any,
    make: Callable[[idempotency.Claimed], Awaitable[Answer[View]]],
    replay: Callable[[str], Answer[View]],
) -> Answer[View]:
    """``make`` the job under the claim, or ``replay`` (by job id) the one this key made already."""
    lease = state.settings.idempotency_lease_seconds
    outcome = await idempotency.claim_async(state.aredis, tenant, key, request_body, lease_seconds=lease)
    if isinstance(outcome, idempotency.Replay):
        answer = await run_in_threadpool(replay, outcome.job_id)
        return Answer(answer.status_code, answer.body, {**answer.headers, "Idempotent-Replayed": "true"})
    if isinstance(outcome, idempotency.InFlight):
        raise Problem(
            409,
            "idempotency-key-in-flight",
            "A request with this Idempotency-Key is still being processed",
            "retry once it has answered",
            headers={"Retry-After": "1"},
        )
    if isinstance(outcome, idempotency.Mismatch):
        raise Problem(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used with a different request",
            "use a new key for a different request",
            extra={"errors": [{"field": "Idempotency-Key", "rule": "reused", "message": "was used with another body"}]},
        )
    try:
        return await make(outcome)
    except BaseException:
        await idempotency.release_async(state.aredis, outcome)
        raise
