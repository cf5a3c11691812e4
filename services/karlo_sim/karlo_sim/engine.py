"""The simulator's state and behaviour, apart from HTTP (``app.py``) and request checks (``validation.py``).

It checks the API key, answers planned faults and latency, counts Karlo's quota in images, and answers a
checked request with one image per sample: drawn by a renderer from ``drawing.py``, then either hosted for a
few minutes (as Karlo's CDN links are) or returned as base64, with a seed and, when asked, an NSFW score. It
keeps the call counts, a log and the last inputs per endpoint that the ``/_sim`` endpoints show to tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response
from PIL import Image

from karlo_sim import limits
from karlo_sim.config import SimSettings
from karlo_sim.faults import Fault, FaultPlan
from karlo_sim.quota import QuotaSpec, SimQuota
from karlo_sim.validation import KarloApiError

MODEL_VERSIONS = {"v2.1": "v2.1.1.prod", "v2.0": "v2.0.4.0.prod"}
Renderer = Callable[[dict[str, Any], int], bytes]


def describe_inputs(params: dict[str, Any]) -> dict[str, Any]:
    """What arrived, for tests to check: sizes and formats; for a mask, where its white (kept) area is."""
    described: dict[str, Any] = {}
    for name in ("_image", "_mask"):
        image: Image.Image | None = params.get(name)
        if image is not None:
            entry: dict[str, Any] = {"width": image.width, "height": image.height, "format": image.format}
            if name == "_mask":
                entry["kept_box"] = image.convert("L").point(lambda v: 255 if v >= 128 else 0).getbbox()
            described[name.lstrip("_")] = entry
    return described


def _nsfw(params: dict[str, Any], seed: int) -> tuple[bool | None, float | None]:
    """Filled only when ``nsfw_checker`` is on; prompts containing "nsfw" are flagged."""
    if not params.get("nsfw_checker"):
        return None, None
    digest = hashlib.sha256(f"{params['prompt']}|{seed}".encode()).digest()
    flagged = "nsfw" in str(params["prompt"]).lower()
    return flagged, 0.97 if flagged else round(digest[0] / 2550, 4)


class Simulator:
    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.latency_ms = settings.latency_ms
        self.faults = FaultPlan()
        self.calls: dict[str, int] = {}
        self.images_generated = 0
        self.log: list[dict[str, Any]] = []
        self.hosted: dict[str, tuple[bytes, str, float]] = {}
        self.last_inputs: dict[str, dict[str, Any]] = {}
        self.quota = SimQuota(
            QuotaSpec(
                per_window=settings.quota_per_window,
                window_seconds=settings.quota_window_seconds,
                per_day=settings.quota_per_day,
                per_month=settings.quota_per_month,
            )
        )

    def count_call(self, endpoint: str) -> None:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1

    def check_auth(self, header: str | None) -> None:
        if header != f"KakaoAK {self.settings.api_key}":
            raise KarloApiError(-401, "InvalidTokenException", 401)

    async def answer_fault(self, fault: Fault) -> Response:
        if fault.hang_ms:
            await asyncio.sleep(fault.hang_ms / 1000)
        if fault.code is not None:
            return JSONResponse({"code": fault.code, "msg": fault.msg}, status_code=fault.http_status)
        return PlainTextResponse("upstream failure", status_code=fault.http_status)

    def admit(self, params: dict[str, Any]) -> float:
        """Count the call against the quota on its arrival, as Karlo does: checked and charged in one step (so
        calls answered concurrently are never admitted on the same room). Quota is counted in images: a request
        for 8 samples needs room for 8. Returns when it was counted."""
        counted = time.time()
        if not self.quota.allows(int(params["samples"]), counted):
            raise KarloApiError(-10, "API limit has been exceeded.", 400)
        self.quota.charge(int(params["samples"]), counted)
        return counted

    async def generate(
        self, params: dict[str, Any], renderer: Renderer, *, base_url: str, endpoint: str, counted: float
    ) -> dict[str, Any]:
        """Draw the admitted call's pictures in a thread, so calls arriving meanwhile are counted on arrival
        rather than after the pictures of those ahead of them."""
        self.last_inputs[endpoint] = describe_inputs(params)
        seeds = params.get("seed") or [secrets.randbelow(limits.SEED_MAX + 1) for _ in range(params["samples"])]
        pictures = await asyncio.to_thread(lambda: [renderer(params, seed) for seed in seeds])
        images = [self._image_entry(params, seed, data, base_url) for seed, data in zip(seeds, pictures, strict=True)]
        self.images_generated += len(images)
        self.log.append({"endpoint": endpoint, "at": time.time(), "counted": counted, "images": len(images)})
        return {"id": secrets.token_hex(8), "model_version": MODEL_VERSIONS[params["version"]], "images": images}

    def _image_entry(self, params: dict[str, Any], seed: int, data: bytes, base_url: str) -> dict[str, Any]:
        detected, score = _nsfw(params, seed)
        image_id = secrets.token_hex(8)
        if params["return_type"] == "base64_string":
            image = base64.b64encode(data).decode()
        else:
            image = self._host(image_id, data, params["image_format"], base_url)
        return {"id": image_id, "seed": seed, "image": image, "nsfw_content_detected": detected, "nsfw_score": score}

    def _host(self, image_id: str, data: bytes, image_format: str, base_url: str) -> str:
        """Serve the image for a few minutes, as Karlo's CDN links do."""
        now = time.time()
        self.hosted = {k: v for k, v in self.hosted.items() if v[2] >= now}
        expires = now + self.settings.url_lifetime_seconds
        self.hosted[image_id] = (data, limits.CONTENT_TYPES[image_format], expires)
        return f"{base_url}/images/{image_id}.{limits.FILE_EXTENSIONS[image_format]}?expires={int(expires)}"

    def stats(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "images_generated": self.images_generated,
            "faults_pending": len(self.faults),
            "random_faults_answered": self.faults.random_faults_answered,
            "log": self.log[-1000:],
            "last_inputs": self.last_inputs,
            "quota": {**self.quota.spec.model_dump(), "refused": self.quota.refused, "total": self.quota.total},
        }

    def reset(self) -> None:
        self.calls.clear()
        self.images_generated = 0
        self.log.clear()
        self.last_inputs.clear()
        self.quota.reset(QuotaSpec())
        self.faults.replace([])
        self.faults.set_random(None)
        self.latency_ms = self.settings.latency_ms
