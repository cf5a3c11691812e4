"""The request time budget: a request that takes too long is answered with a 503 ``request-timeout`` problem
(enforced by :mod:`karlo_api.request_guard`).

A slow upload or a slow input-image fetch is cut off; but once a route has begun to accept a job (it calls
:func:`mark_committed`), the request runs to its end, so a timeout never leaves a job its caller cannot know of.
A ``Prefer: wait=N`` adds its N seconds to the budget.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.types import Scope

from karlo_api.problems import Problem

log = logging.getLogger(__name__)

_COMMITTED = "karloq_committed"


def mark_committed(request: Request) -> None:
    """From here on the request is not cut off by the timeout."""
    setattr(request.state, _COMMITTED, True)


def is_committed(state: Mapping[str, Any]) -> bool:
    """Whether the request whose scope ``state`` this is has called :func:`mark_committed`."""
    return bool(state.get(_COMMITTED))


def timeout_problem(budget: float) -> Problem:
    return Problem(
        503,
        "request-timeout",
        "The request took too long",
        f"no answer within {budget:g} seconds; nothing was accepted",
        headers={"Retry-After": "1"},
    )


def log_timeout(scope: Scope, budget: float) -> None:
    log.warning("request timed out", extra={"path": scope.get("path"), "seconds": budget})
