"""The simulator counts each call against its quota when the call arrives, as Karlo does: not after the
pictures of calls ahead of it are drawn, and never admitting two concurrent calls on the same room."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from karlo_sim import app as sim_app
from karlo_sim.app import create_app
from karlo_sim.config import SimSettings
from karlo_sim.engine import Simulator
from karlo_sim.validation import validate_t2i

KEY = "unit-sim-key"
T2I = "/v2/inference/karlo/t2i"
HEADERS = {"Authorization": f"KakaoAK {KEY}"}


def _body(images: int) -> dict[str, Any]:
    return {"prompt": "arrival", "width": 384, "height": 384, "samples": images}


def test_a_call_is_counted_while_an_earlier_ones_pictures_are_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    drawing = threading.Event()
    release = threading.Event()

    def slow_renderer(params: dict[str, Any], seed: int) -> bytes:
        if params["samples"] == 3:  # the first call: its pictures take until the second call has been counted
            drawing.set()
            assert release.wait(timeout=30)
        return b"picture"

    monkeypatch.setitem(sim_app.ENDPOINTS, T2I, ("t2i", validate_t2i, slow_renderer))
    app = create_app(SimSettings(api_key=KEY, quota_per_window=4, quota_window_seconds=60))
    sim: Simulator = app.state.sim

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
            first = asyncio.create_task(client.post(T2I, json=_body(3), headers=HEADERS))
            for _ in range(1000):
                if drawing.is_set() or first.done():
                    break
                await asyncio.sleep(0.01)
            assert drawing.is_set(), (await first).text
            second = asyncio.create_task(client.post(T2I, json=_body(1), headers=HEADERS))
            for _ in range(1000):  # the second call is admitted while the first one's pictures are still drawn
                if sim.quota.total == 4:
                    break
                await asyncio.sleep(0.01)
            counted_meanwhile = sim.quota.total
            release.set()
            answers = [await first, await second]
            return [counted_meanwhile, *(answer.status_code for answer in answers)]

    try:
        assert asyncio.run(scenario()) == [4, 200, 200]
    finally:
        release.set()
    assert [entry["images"] for entry in sim.stats()["log"]] == [1, 3]  # answered in the order drawn


def test_concurrent_calls_are_never_admitted_on_the_same_room(monkeypatch: pytest.MonkeyPatch) -> None:
    """With latency before the answer, the room is taken when the call arrives: a second call that arrives
    meanwhile is refused."""
    app = create_app(SimSettings(api_key=KEY, quota_per_window=2, quota_window_seconds=60, latency_ms=200))
    sim: Simulator = app.state.sim

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
            answers = await asyncio.gather(*(client.post(T2I, json=_body(2), headers=HEADERS) for _ in range(2)))
            return sorted(answer.status_code for answer in answers)

    assert asyncio.run(scenario()) == [200, 400]
    assert sim.quota.refused == 1
    assert sim.quota.total == 2
