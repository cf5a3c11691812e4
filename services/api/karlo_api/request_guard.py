"""One ASGI middleware for what every request needs around it: its metrics, its time budget and its body limit.

Each used to be a middleware of its own, and so a wrapper, a task-local closure pair and a header scan of its
own per request; together they were a measurable share of a request's CPU on the job-accepting path
(docs/benchmarks.md, "Accepting a job"). What each does is unchanged:

- metrics: every request is counted by route template (never the raw path), method and status, and timed
  (:mod:`karlo_api.request_metrics`), refusals made here included;
- time budget: a request that takes too long is answered with a 503 ``request-timeout`` problem, unless its
  route has begun to accept a job (:func:`karlo_api.timeouts.mark_committed`); ``Prefer: wait=N`` adds N seconds
  (:mod:`karlo_api.timeouts`);
- body limit: a body over the limit is refused with a 413 while it streams, before any of it is read whole
  (:mod:`karlo_api.body_limit`).
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from karlo_api.body_limit import BodyTooLarge, body_too_large
from karlo_api.prefer import requested_wait
from karlo_api.problems import Problem, problem_response
from karlo_api.request_metrics import record_request
from karlo_api.timeouts import is_committed, log_timeout, timeout_problem


class _Exchange:
    """One request's channels, counting the body it receives and noting the answer's status."""

    __slots__ = ("_receive", "_send", "max_bytes", "seen", "started", "status")

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self.max_bytes = max_bytes
        self.seen = 0
        self.started = False
        self.status = 500  # what the metrics count when the request fails before any answer

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.max_bytes:
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.started = True
        await self._send(message)

    async def refuse(self, scope: Scope, problem: Problem) -> None:
        await problem_response(problem)(scope, self._receive, self.send)


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, seconds: float, max_wait_seconds: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.max_wait_seconds = max_wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        exchange = _Exchange(receive, send, self.max_bytes)
        try:
            declared, prefer = _headers(scope)
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                await exchange.refuse(scope, body_too_large(self.max_bytes))
                return
            budget = self.seconds + (requested_wait(prefer, self.max_wait_seconds) or 0)
            if await self._within(scope, exchange, budget) and not exchange.started:
                await exchange.refuse(scope, timeout_problem(budget))
        finally:
            record_request(scope, exchange.status, time.perf_counter() - began)

    async def _within(self, scope: Scope, exchange: _Exchange, budget: float) -> bool:
        """Run the request; True when it ran out of ``budget`` before it committed (it was cut off then)."""
        state = scope.setdefault("state", {})
        # The request runs in this task; a timer cancels it once the budget is spent, unless it is committed by
        # then (no second task and no wait per request).
        task = asyncio.current_task()
        assert task is not None
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            if not is_committed(state):
                timed_out = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(budget, expire)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BodyTooLarge:
            if exchange.started:
                raise
            await exchange.refuse(scope, body_too_large(self.max_bytes))
        except asyncio.CancelledError:
            if not timed_out:
                raise
        finally:
            timer.cancel()
        if timed_out:
            task.uncancel()
            log_timeout(scope, budget)
        return timed_out


def _headers(scope: Scope) -> tuple[bytes | None, str | None]:
    """The request's ``Content-Length`` and ``Prefer`` (the last of each, as a dict of the headers keeps)."""
    declared = prefer = None
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            declared = value
        elif name == b"prefer":
            prefer = value
    return declared, prefer.decode("latin-1") if prefer is not None else None
