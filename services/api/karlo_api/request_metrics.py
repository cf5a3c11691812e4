"""API request metrics: counted by route template (never the raw path), method and status, and timed."""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from karlo_core.metrics import API_REQUEST_SECONDS, API_REQUESTS, series

#: The route label of requests no route matched (404s, probes for random paths): one series, not one per path.
UNMATCHED = "<unmatched>"


def record_request(scope: Scope, status: int, seconds: float) -> None:
    """Count and time one answered request (:mod:`karlo_api.request_guard` calls this for every request)."""
    route, method = route_template(scope), str(scope["method"])
    series(API_REQUESTS, route, method, str(status)).inc()
    series(API_REQUEST_SECONDS, route, method).observe(seconds)


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
