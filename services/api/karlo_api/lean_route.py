"""Routes whose common case skips FastAPI's dependency resolution.

A lean route is declared like any other (its parameters, and so the OpenAPI document, are FastAPI's), but a
request first goes to a plain handler that reads what it needs from the request itself; only when that handler
cannot answer (it returns None: a missing key, a header breaking its rules) does FastAPI resolve the declared
dependencies, so every refusal is exactly the declared route's. On the job-accepting path the resolution was
a sizeable part of a request's CPU (docs/benchmarks.md, "Accepting a job").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

#: The common case's answer, or None to leave the request to the declared dependencies.
LeanHandler = Callable[[Request], Awaitable[Response | None]]


def lean_route(lean: LeanHandler) -> type[APIRoute]:
    """A route class answering with ``lean`` first, and with the declared endpoint when ``lean`` gives None."""

    class LeanRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            declared = super().get_route_handler()

            async def handler(request: Request) -> Response:
                response = await lean(request)
                return response if response is not None else await declared(request)

            return handler

    return LeanRoute
