"""A lean route's handler answers its errors exactly as its declared route does: the same problem for a mapped
exception, the same 500 for any other, the same refusal when the handler leaves the request to the router."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from karlo_api.lean_route import install_lean_routes
from karlo_api.problems import Problem, install_problem_handlers
from karlo_api.request_guard import RequestGuardMiddleware
from karlo_core.errors import TooManyActiveJobs

ERRORS: dict[str, Exception] = {
    "problem": Problem(409, "conflict", "Conflict"),
    "core": TooManyActiveJobs(3),
    "store": redis.exceptions.ConnectionError("down"),
    "crash": ZeroDivisionError("boom"),
}


def _raise(kind: str | None) -> Response:
    if kind in ERRORS:
        raise ERRORS[kind]
    return Response(b"declared", status_code=202)


def _app(lean: bool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestGuardMiddleware, max_bytes=1000, seconds=5, max_wait_seconds=5)

    @app.post("/v1/things")
    async def declared(request: Request) -> Response:
        return _raise(request.headers.get("x-fail"))

    async def lean_handler(request: Request) -> Response | None:
        if request.headers.get("x-leave") is not None:
            return None
        kind = request.headers.get("x-fail")
        if kind in ERRORS:
            raise ERRORS[kind]
        return Response(b"lean", status_code=202)

    if lean:
        route = next(r for r in app.router.routes if getattr(r, "path", None) == "/v1/things")
        install_lean_routes(app, [(route, lean_handler)])  # type: ignore[list-item]
    return app


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[TestClient, TestClient]]:
    with (
        TestClient(_app(lean=False), raise_server_exceptions=False) as declared,
        TestClient(_app(lean=True), raise_server_exceptions=False) as lean,
    ):
        yield declared, lean


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_an_error_in_the_handler_is_answered_as_the_declared_route_answers_it(
    clients: tuple[TestClient, TestClient], kind: str
) -> None:
    declared, lean = clients
    want = declared.post("/v1/things", headers={"x-fail": kind})
    got = lean.post("/v1/things", headers={"x-fail": kind})
    assert want.status_code >= 400
    assert (got.status_code, got.content, got.headers.get("content-type"), got.headers.get("retry-after")) == (
        want.status_code,
        want.content,
        want.headers.get("content-type"),
        want.headers.get("retry-after"),
    )


def test_the_handler_answers_its_common_case_and_leaves_the_rest_to_the_declared_route(
    clients: tuple[TestClient, TestClient],
) -> None:
    _, lean = clients
    assert lean.post("/v1/things").content == b"lean"
    assert lean.post("/v1/things", headers={"x-leave": "1"}).content == b"declared"
    assert lean.post("/v1/things", headers={"x-leave": "1", "x-fail": "core"}).status_code == 429
    assert lean.get("/v1/things").status_code == 405
