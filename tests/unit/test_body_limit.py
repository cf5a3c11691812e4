"""The body-size limit refuses declared and streamed oversize bodies with 413 problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
from fastapi import FastAPI, Request

from karlo_api.request_guard import RequestGuardMiddleware


def make_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_middleware(RequestGuardMiddleware, max_bytes=100, seconds=30, max_wait_seconds=60)
    return app


async def _post(content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/echo", content=content)


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(10):
        yield b"x" * 20


def test_small_bodies_pass_and_large_ones_are_413() -> None:
    ok = anyio.run(_post, b"x" * 100)
    assert ok.status_code == 200 and ok.json() == {"bytes": 100}
    for content in (b"x" * 101, _chunks()):
        refused = anyio.run(_post, content)
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
