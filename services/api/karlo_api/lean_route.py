"""Routes whose common case skips FastAPI's routing, dependency resolution and per-request exception layers.

A lean route is declared like any other (its parameters, and so the OpenAPI document, are FastAPI's), but a
request for its method and path first goes to a plain handler that reads what it needs from the request itself.
Only when that handler cannot answer (it returns None: a missing key, a header breaking its rules) does the
request go on to the router and the declared dependencies, so every refusal is exactly the declared route's.
On the job-accepting path, matching the route among all of them and resolving its dependencies were a sizeable
part of a request's CPU (docs/benchmarks.md, "Accepting a job").

The handler runs as the innermost of the application's middleware (inside every ``add_middleware`` one, so its
requests are guarded, timed and counted as any other), in place of Starlette's exception layer and FastAPI's
exit-stack layer, which wrap every request in closures, a request object and a context manager of their own.
It answers its own exceptions the way that exception layer does, with the same handlers (the application's,
but those for ``Exception`` and 500, which stay with the outermost error layer, as FastAPI arranges them): a
mapped exception is answered by its handler, any other goes on up to the outermost layer's 500, and one raised
after the answer began is Starlette's "response already started" error. Nothing on its path uses the exit
stack (no dependencies, no uploaded files left open).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Router
from starlette.types import ASGIApp, ExceptionHandler, Receive, Scope, Send

#: The common case's answer, or None to leave the request to the router and the declared dependencies.
LeanHandler = Callable[[Request], Awaitable[Response | None]]


def install_lean_routes(app: FastAPI, routes: Sequence[tuple[APIRoute, LeanHandler]]) -> None:
    """Answer requests for each declared route (of a router included without a prefix of its own) with its lean
    handler first. Call it once every router is included and every middleware added."""
    lean: dict[tuple[str, str], tuple[APIRoute, LeanHandler]] = {}
    for route, handler in routes:
        for method in route.methods or ():
            lean[(method, route.path)] = (route, handler)
    app.user_middleware.append(
        Middleware(LeanFirst, lean=lean, router=app.router, app_handlers=app.exception_handlers, debug=app.debug)
    )


class LeanFirst(ExceptionMiddleware):
    """Lean routes' requests answered by their handlers; every other request (and one a handler leaves) goes on
    to the application's exception layer and router, untouched. It holds the handlers that layer holds
    (``app_handlers`` read when the middleware stack is built, on the first request, as FastAPI reads them)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        lean: dict[tuple[str, str], tuple[APIRoute, LeanHandler]],
        router: Router,
        app_handlers: Mapping[Any, ExceptionHandler],
        debug: bool = False,
    ) -> None:
        handlers = {key: value for key, value in app_handlers.items() if key not in (500, Exception)}
        super().__init__(app, handlers=handlers, debug=debug)
        self._lean = lean
        self._router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self._lean.get((scope["method"], _route_path(scope)))
            if found is not None:
                route, handler = found
                # What the router leaves in the scope of a matched route (the request metrics read "route").
                scope.setdefault("router", self._router)
                scope.update(endpoint=route.endpoint, path_params={}, route=route)
                try:
                    response = await handler(Request(scope, receive, send))
                except Exception as exc:
                    await self._answer(exc, scope, receive, send)
                    return
                if response is not None:
                    try:
                        await response(scope, receive, send)
                    except Exception as exc:
                        if self._handler_of(exc) is not None:  # Starlette's answer once the response began
                            raise RuntimeError("Caught handled exception, but response already started.") from exc
                        raise
                    return
        await self.app(scope, receive, send)

    def _handler_of(self, exc: Exception) -> ExceptionHandler | None:
        """The handler Starlette's exception layer picks: by status for an HTTPException, else by class."""
        if isinstance(exc, HTTPException) and (handler := self._status_handlers.get(exc.status_code)) is not None:
            return handler
        return _lookup_exception_handler(self._exception_handlers, exc)

    async def _answer(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer an exception raised before the response began, as Starlette's exception layer does."""
        handler = self._handler_of(exc)
        if handler is None:
            raise exc
        request = Request(scope, receive, send)
        answer = cast(Callable[[Request, Exception], Any], handler)  # an HTTP handler: this layer sees no websockets
        if is_async_callable(answer):
            response = await answer(request, exc)
        else:
            response = await run_in_threadpool(answer, request, exc)
        if response is not None:
            await response(scope, receive, send)
        exc.__traceback__ = None  # as Starlette does: reused exception instances accumulate tracebacks


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
