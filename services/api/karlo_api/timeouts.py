"""ASGI middleware answering a request that takes too long with a 503 ``request-timeout`` problem.

A slow upload or a slow input-image fetch is cut off; but once a route has begun to accept a job (it calls
:func:`mark_committed`), the request runs to its end, so a timeout never leaves a job its caller cannot know of.
A ``Prefer: wait=N`` adds its N seconds to the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from karlo_api.prefer import requested_wait
from karlo_api.problems import Problem, problem_response

log = logging.getLogger(__name__)

_COMMITTED = "karloq_committed"


def mark_committed(request: Request) -> None:
    """From here on the request is not cut off by the timeout."""
    setattr(request.state, _COMMITTED, True)


class RequestTimeoutMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float, max_wait_seconds: int) -> None:
        self.app = app
        self.seconds = seconds
        self.max_wait_seconds = max_wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        prefer = dict(scope.get("headers") or []).get(b"prefer", b"").decode("latin-1")
        budget = self.seconds + (requested_wait(prefer, self.max_wait_seconds) or 0)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, tracking_send))
        done, _ = await asyncio.wait({task}, timeout=budget)
        if task in done or state.get(_COMMITTED):
            await task
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.warning("request timed out", extra={"path": scope.get("path"), "seconds": budget})
        if not started:
            problem = Problem(
                503,
                "request-timeout",
                "The request took too long",
                f"no answer within {budget:g} seconds; nothing was accepted",
                headers={"Retry-After": "1"},
            )
            await problem_response(problem)(scope, receive, send)
