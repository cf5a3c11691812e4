"""Karlo's v2 wire shapes: request bodies built from job inputs, and the response parsed into records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from karlo_core.jobs import GenerateInput

T2I_PATH = "/v2/inference/karlo/t2i"


@dataclass(frozen=True)
class KarloImage:
    """One generated image as Karlo returned it (``data`` is decoded bytes, downloaded if Karlo sent a URL)."""

    data: bytes
    seed: int | None
    nsfw_content_detected: bool | None
    nsfw_score: float | None


@dataclass(frozen=True)
class KarloResult:
    request_id: str | None
    model_version: str | None
    images: list[KarloImage]


def t2i_body(spec: GenerateInput) -> dict[str, Any]:
    """The flat JSON body of ``POST /v2/inference/karlo/t2i``; images come back inline as base64."""
    body = spec.model_dump(exclude_none=True)
    if not spec.upscale:
        body.pop("scale", None)
    body["return_type"] = "base64_string"
    return body


def error_of(payload: Any) -> tuple[int | None, str]:
    """Karlo's ``{code, msg}`` error body, tolerating anything else."""
    if isinstance(payload, dict):
        code = payload.get("code")
        msg = payload.get("msg") or payload.get("message") or ""
        return (code if isinstance(code, int) else None), str(msg)
    return None, ""
