"""Karlo's v2 wire shapes: request bodies built from job parameters, and the parsed response records."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from karlo_core.job_inputs import GenerateParams, InpaintParams, OutputOptions, VariationParams

T2I_PATH = "/v2/inference/karlo/t2i"
VARIATIONS_PATH = "/v2/inference/karlo/variations"
INPAINTING_PATH = "/v2/inference/karlo/inpainting"


@dataclass(frozen=True)
class KarloImage:
    """One generated image as Karlo returned it: a download ``url`` (what we ask for), or decoded ``data`` when
    Karlo answered base64."""

    data: bytes
    seed: int | None
    nsfw_content_detected: bool | None
    nsfw_score: float | None
    url: str | None = None


@dataclass(frozen=True)
class KarloResult:
    request_id: str | None
    model_version: str | None
    images: list[KarloImage]


def _body(params: OutputOptions, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """Only what the caller set or we default. Images come back as download links, which the worker fetches one
    at a time into its spool: an answer of eight photo-sized images inline would be over 100 MB of JSON."""
    body = params.model_dump(mode="json", exclude_none=True, exclude=exclude)
    if not params.upscale:
        body.pop("scale", None)
    body["return_type"] = "url"
    return body


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def t2i_body(params: GenerateParams) -> dict[str, Any]:
    return _body(params)


def variation_body(params: VariationParams, image: bytes) -> dict[str, Any]:
    return {**_body(params), "image": _b64(image)}


def inpainting_body(params: InpaintParams, image: bytes, mask: bytes) -> dict[str, Any]:
    """Karlo's inpainting runs model 2.0.4+; whether it reads ``version`` is not confirmed, so it is not sent."""
    body = _body(params, exclude={"version", "extend"})
    return {**body, "image": _b64(image), "mask": _b64(mask)}


def error_of(payload: Any) -> tuple[int | None, str]:
    """Karlo's ``{code, msg}`` error body, tolerating anything else."""
    if isinstance(payload, dict):
        code = payload.get("code")
        msg = payload.get("msg") or payload.get("message") or ""
        return (code if isinstance(code, int) else None), str(msg)
    return None, ""
