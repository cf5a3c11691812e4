"""The simulator's HTTP app: Karlo's inference endpoints plus ``/_sim/*`` controls for tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from karlo_sim import drawing
from karlo_sim.config import SimSettings
from karlo_sim.engine import Renderer, Simulator
from karlo_sim.faults import FaultSpec, RandomFaults
from karlo_sim.quota import QuotaSpec
from karlo_sim.validation import KarloApiError, validate_inpainting, validate_t2i, validate_variations


class SimControl(BaseModel):
    latency_ms: int | None = Field(default=None, ge=0)
    faults: list[FaultSpec] | None = None
    #: Set (ratio 0 turns them off) to make a share of all calls fail, until reset.
    random_faults: RandomFaults | None = None
    quota: QuotaSpec | None = None


def _karlo_error(exc: KarloApiError) -> JSONResponse:
    return JSONResponse({"code": exc.code, "msg": exc.msg}, status_code=exc.http_status)


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise KarloApiError(-2, "request body is not valid JSON") from exc


def create_app(settings: SimSettings) -> FastAPI:
    app = FastAPI(title="Karlo simulator", docs_url=None, redoc_url=None)
    sim = Simulator(settings)
    app.state.sim = sim
    _add_karlo_routes(app, sim)
    _add_control_routes(app, sim)
    return app


#: Karlo's inference endpoints: path -> (name, request checks, picture maker).
ENDPOINTS: dict[str, tuple[str, Callable[[Any], dict[str, Any]], Renderer]] = {
    "/v2/inference/karlo/t2i": ("t2i", validate_t2i, drawing.render),
    "/v2/inference/karlo/variations": ("variations", validate_variations, drawing.render_variation),
    "/v2/inference/karlo/inpainting": ("inpainting", validate_inpainting, drawing.render_inpainting),
}


def _add_karlo_routes(app: FastAPI, sim: Simulator) -> None:
    for path, (name, validate, renderer) in ENDPOINTS.items():
        app.add_api_route(path, _inference_handler(sim, name, validate, renderer), methods=["POST"], name=name)

    @app.get("/images/{name}")
    async def hosted_image(name: str) -> Response:
        entry = sim.hosted.get(name.split(".")[0])
        if entry is None or entry[2] < time.time():
            return PlainTextResponse("expired", status_code=403)
        return Response(entry[0], media_type=entry[1])


def _inference_handler(
    sim: Simulator, name: str, validate: Callable[[Any], dict[str, Any]], renderer: Renderer
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        sim.count_call(name)
        try:
            sim.check_auth(request.headers.get("authorization"))
            fault = sim.faults.next()
            if fault is not None:
                return await sim.answer_fault(fault)
            params = validate(await _json_body(request))
            counted = sim.admit(params)
        except KarloApiError as exc:
            return _karlo_error(exc)
        if sim.latency_ms:
            await asyncio.sleep(sim.latency_ms / 1000)
        base_url = sim.settings.public_base_url or str(request.base_url).rstrip("/")
        return JSONResponse(await sim.generate(params, renderer, base_url=base_url, endpoint=name, counted=counted))

    return handle


def _add_control_routes(app: FastAPI, sim: Simulator) -> None:
    @app.post("/_sim/control")
    async def control(body: SimControl) -> dict[str, Any]:
        if body.latency_ms is not None:
            sim.latency_ms = body.latency_ms
        if body.faults is not None:
            sim.faults.replace(body.faults)
        if body.random_faults is not None:
            sim.faults.set_random(body.random_faults)
        if body.quota is not None:
            sim.quota.reset(body.quota)
        return {"latency_ms": sim.latency_ms, "faults_pending": len(sim.faults)}

    @app.get("/_sim/stats")
    async def stats() -> dict[str, Any]:
        return sim.stats()

    @app.post("/_sim/reset")
    async def reset() -> dict[str, str]:
        sim.reset()
        return {"status": "reset"}
