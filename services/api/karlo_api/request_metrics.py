"""ASGI middleware counting API requests by route template (never the raw path), method and status."""

from __future__ import annotations

import time

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from karlo_core.metrics import API_REQUEST_SECONDS, API_REQUESTS

#: The route label of requests no route matched (404s, probes for random paths): one series, not one per path.
UNMATCHED = "<unmatched>"


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route, method = route_template(scope), str(scope["method"])
            API_REQUESTS.labels(route, method, str(status)).inc()
            API_REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/jobs/{job_id}``), which the router leaves in the scope of
    API routes; the application's own plain routes (``/openapi.json``, ``/docs``) are looked up."""
    route = scope.get("route")
    path = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
    if isinstance(path, str):
        return path
    return _plain_route_path(scope) or UNMATCHED


def _plain_route_path(scope: Scope) -> str | None:
    router = getattr(scope.get("app"), "router", None)
    for candidate in getattr(router, "routes", ()):
        if isinstance(candidate, Route) and candidate.matches(scope)[0] is Match.FULL:
            return candidate.path
    return None
