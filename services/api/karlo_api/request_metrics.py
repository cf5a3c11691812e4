"""API request metrics: counted by route template (never the raw path), method and status, and timed."""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from karlo_core.metrics import API_REQUEST_SECONDS, API_REQUESTS

#: The route label of requests no route matched (404s, probes for random paths): one series, not one per path.
UNMATCHED = "<unmatched>"

#: Each (route, method, status)'s request counter and timer, as ``labels`` made them on first use (it takes a
#: lock and builds its key on every call); the same series ``labels`` keeps, so no more of them.
_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def record_request(scope: Scope, status: int, seconds: float) -> None:
    """Count and time one answered request (:mod:`karlo_api.request_guard` calls this for every request)."""
    key = (route_template(scope), str(scope["method"]), status)
    series = _series.get(key)
    if series is None:
        route, method, _ = key
        series = _series[key] = (
            API_REQUESTS.labels(route, method, str(status)),
            API_REQUEST_SECONDS.labels(route, method),
        )
    count, timing = series
    count.inc()
    timing.observe(seconds)


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
