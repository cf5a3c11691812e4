"""One ASGI middleware for what every request needs around it: its metrics, its time budget and its body limit.

Each used to be a middleware of its own, and so a wrapper, a task-local closure pair and a header scan of its
own per request; together they were a measurable share of a request's CPU on the job-accepting path
(docs/benchmarks.md, "Accepting a job"). What each does is unchanged:

- metrics: every request is counted by route template (never the raw path), method and status, and timed
  (:mod:`karlo_api.request_metrics`), refusals made here included;
- time budget: a request that takes too long is answered with a 503 ``request-timeout`` problem, unless its
  route has begun to accept a job (:func:`karlo_api.timeouts.mark_committed`); ``Prefer: wait=N`` adds N seconds
  (:mod:`karlo_api.timeouts`). One timer checks every request in flight each :data:`TICK` seconds (a timer per
  request cost more than the rest of this bookkeeping), so a request is cut off within a tick after its budget;
- body limit: a body over the limit is refused with a 413 while it streams, before any of it is read whole
  (:mod:`karlo_api.body_limit`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from karlo_api.body_limit import BodyTooLarge, body_too_large
from karlo_api.prefer import requested_wait
from karlo_api.problems import Problem, problem_response
from karlo_api.request_metrics import record_request
from karlo_api.timeouts import is_committed, log_timeout, timeout_problem

#: How often the requests in flight are checked against their time budgets, in seconds.
TICK = 0.1


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


class _Watched:
    """A request in flight under its time budget."""

    __slots__ = ("deadline", "state", "task", "timed_out")

    def __init__(self, task: asyncio.Task[Any], state: dict[str, Any], deadline: float) -> None:
        self.task = task
        self.state = state
        self.deadline = deadline
        self.timed_out = False


class _Deadlines:
    """The requests in flight and their deadlines, checked by one timer every :data:`TICK` seconds while any
    is in flight. At its deadline a request is cut off (its task cancelled) unless it has committed; either way
    it is not looked at again."""

    def __init__(self) -> None:
        self._watched: set[_Watched] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def watch(self, state: dict[str, Any], budget: float) -> _Watched:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        watched = _Watched(task, state, loop.time() + budget)
        self._watched.add(watched)
        if self._timer is None or self._timer_loop is not loop:
            self._timer = loop.call_later(TICK, self._check)
            self._timer_loop = loop
        return watched

    def forget(self, watched: _Watched) -> None:
        self._watched.discard(watched)

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for watched in [w for w in self._watched if w.deadline <= now]:
            self._watched.discard(watched)
            if not is_committed(watched.state):
                watched.timed_out = True
                watched.task.cancel()
        self._timer = loop.call_later(TICK, self._check) if self._watched else None


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, seconds: float, max_wait_seconds: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.max_wait_seconds = max_wait_seconds
        self._deadlines = _Deadlines()

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
        """Run the request; True when it ran out of ``budget`` before it committed (it was cut off then). The
        request runs in this task (no second task and no wait per request)."""
        watched = self._deadlines.watch(scope.setdefault("state", {}), budget)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BodyTooLarge:
            if exchange.started:
                raise
            await exchange.refuse(scope, body_too_large(self.max_bytes))
        except asyncio.CancelledError:
            if not watched.timed_out:
                raise
        finally:
            self._deadlines.forget(watched)
        if watched.timed_out:
            watched.task.uncancel()
            log_timeout(scope, budget)
        return watched.timed_out


def _headers(scope: Scope) -> tuple[bytes | None, str | None]:
    """The request's ``Content-Length`` and ``Prefer`` (the last of each, as a dict of the headers keeps)."""
    declared = prefer = None
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            declared = value
        elif name == b"prefer":
            prefer = value
    return declared, prefer.decode("latin-1") if prefer is not None else None
