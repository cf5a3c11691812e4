"""``Idempotency-Key`` on job creation: the first answer for a key is kept 24 h and replayed to repeats.

Only answers that accepted a job are kept; a refused request (invalid input, quota, an outage) releases the
key, so the caller may fix the request or retry it with the same key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from karlo_api.deps import ApiState
from karlo_api.problems import Problem
from karlo_core import idempotency

#: Headers of the first answer that a replay repeats (rate-limit fields describe the moment, so they are not).
REPLAYED_HEADERS = ("Location",)


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status_code, headers=self.headers)


async def answer_once(
    state: ApiState, tenant: str, key: str, request_body: Any, make: Callable[[], Awaitable[Answer]]
) -> Answer:
    outcome = await run_in_threadpool(idempotency.claim, state.redis, tenant, key, request_body)
    if isinstance(outcome, idempotency.Replay):
        return Answer(outcome.status_code, outcome.body, {**outcome.headers, "Idempotent-Replayed": "true"})
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
        answer = await make()
    except BaseException:
        await run_in_threadpool(idempotency.release, state.redis, tenant, key)
        raise
    kept = {name: answer.headers[name] for name in REPLAYED_HEADERS if name in answer.headers}
    await run_in_threadpool(
        idempotency.complete, state.redis, tenant, key, request_body, answer.status_code, answer.body, kept
    )
    return answer
