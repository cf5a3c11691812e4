"""ASGI middleware answering a request that takes too long with a 503 ``request-timeout`` problem.

A slow upload or a slow input-image fetch is cut off; but once a route has begun to accept a job (it calls
:func:`mark_committed`), the request runs to its end, so a timeout never leaves a job its caller cannot know of.
A ``Prefer: wait=N`` adds its N seconds to the budget.
"""

from __future__ import annotations

import asyncio
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

        # The request runs in this task; a timer cancels it once the budget is spent, unless it is committed by
        # then (no second task and no wait per request).
        task = asyncio.current_task()
        assert task is not None
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            if not state.get(_COMMITTED):
                timed_out = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(budget, expire)
        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not timed_out:
                raise
        finally:
            timer.cancel()
        if not timed_out:
            return
        task.uncancel()
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
