"""Routes whose common case skips FastAPI's routing and dependency resolution.

A lean route is declared like any other (its parameters, and so the OpenAPI document, are FastAPI's), but a
request for its method and path first goes to a plain handler, ahead of the router's matching, that reads what
it needs from the request itself. Only when that handler cannot answer (it returns None: a missing key, a
header breaking its rules) does the request go on to the router and the declared dependencies, so every
refusal is exactly the declared route's. The handler runs inside the application's middleware and exception
handlers, as a route does. On the job-accepting path, matching the route among all of them and resolving its
dependencies were a sizeable part of a request's CPU (docs/benchmarks.md, "Accepting a job").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

#: The common case's answer, or None to leave the request to the router and the declared dependencies.
LeanHandler = Callable[[Request], Awaitable[Response | None]]


def install_lean_routes(app: FastAPI, routes: Sequence[tuple[APIRoute, LeanHandler]]) -> None:
    """Answer requests for each declared route (of a router included without a prefix of its own) with its lean
    handler first. Call it once every router is included."""
    lean: dict[tuple[str, str], tuple[APIRoute, LeanHandler]] = {}
    for route, handler in routes:
        for method in route.methods or ():
            lean[(method, route.path)] = (route, handler)
    router = app.router
    matching = router.middleware_stack

    async def lean_first(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = lean.get((scope["method"], _route_path(scope)))
            if found is not None:
                route, handler = found
                # What the router leaves in the scope of a matched route (the request metrics read "route").
                scope.setdefault("router", router)
                scope.update(endpoint=route.endpoint, path_params={}, route=route)
                response = await handler(Request(scope, receive, send))
                if response is not None:
                    await response(scope, receive, send)
                    return
        await matching(scope, receive, send)

    router.middleware_stack = lean_first


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
