"""Karlo's request checks, answering as Karlo does: code -2 with a message naming the parameter."""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable
from typing import Any

from PIL import Image

from karlo_sim import limits

BAD_PARAMETER = -2


class KarloApiError(Exception):
    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.http_status = http_status


def _bad(msg: str) -> KarloApiError:
    return KarloApiError(BAD_PARAMETER, msg)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(name: str, value: Any) -> None:
    if not isinstance(value, str) or len(value) > limits.PROMPT_MAX_CHARS:
        raise _bad(f"{name} must be a string of at most {limits.PROMPT_MAX_CHARS} characters")


def _int_range(low: int, high: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not _is_int(value) or not low <= value <= high:
            raise _bad(f"{name} must be an integer between {low} and {high}")

    return check


def _number_range(low: float, high: float) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not _is_number(value) or not low <= value <= high:
            raise _bad(f"{name} must be a number between {low} and {high}")

    return check


def _one_of(*allowed: Any) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            raise _bad(f"{name} must be one of {', '.join(map(str, allowed))}")

    return check


_OPTIONAL_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "negative_prompt": _text,
    "samples": _int_range(limits.SAMPLES_MIN, limits.SAMPLES_MAX),
    "image_format": _one_of(*limits.IMAGE_FORMATS),
    "image_quality": _int_range(*limits.IMAGE_QUALITY_RANGE),
    "upscale": _one_of(True, False),
    "scale": _one_of(*limits.UPSCALE_FACTORS),
    "prior_num_inference_steps": _int_range(*limits.STEPS_RANGE),
    "prior_guidance_scale": _number_range(*limits.GUIDANCE_RANGE),
    "num_inference_steps": _int_range(*limits.STEPS_RANGE),
    "guidance_scale": _number_range(*limits.GUIDANCE_RANGE),
    "scheduler": _one_of(*limits.SCHEDULERS),
    "nsfw_checker": _one_of(True, False),
    "return_type": _one_of("base64_string", "url"),
}

_DEFAULTS: dict[str, Any] = {
    "samples": 1,
    "image_format": limits.DEFAULT_IMAGE_FORMAT,
    "image_quality": limits.DEFAULT_IMAGE_QUALITY,
    "upscale": False,
    "scale": 2,
    "nsfw_checker": False,
    "return_type": "url",
}


def _check_size(params: dict[str, Any]) -> None:
    low, high = limits.SIZE_RANGE[params["version"]]
    for name in ("width", "height"):
        params.setdefault(name, limits.DEFAULT_SIZE[params["version"]])
        value = params[name]
        if not _is_int(value) or not low <= value <= high or value % limits.SIZE_STEP:
            raise _bad(f"{name} must be a multiple of {limits.SIZE_STEP} between {low} and {high}")


def _check_seed(params: dict[str, Any]) -> None:
    seed = params.get("seed")
    if seed is None:
        return
    if not isinstance(seed, list) or len(seed) != params["samples"]:
        raise _bad("seed must be an array with one value per sample")
    if not all(_is_int(s) and 0 <= s <= limits.SEED_MAX for s in seed):
        raise _bad(f"each seed must be an integer between 0 and {limits.SEED_MAX}")


def validate_t2i(body: Any) -> dict[str, Any]:
    """The request's parameters with Karlo's defaults filled in, or KarloApiError(-2)."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    if "prompt" not in body or not body["prompt"]:
        raise _bad("prompt is required")
    _text("prompt", body["prompt"])
    params = {**_DEFAULTS, **{k: v for k, v in body.items() if v is not None}}
    params.setdefault("version", limits.DEFAULT_VERSION)
    if params["version"] not in limits.MODEL_VERSIONS:
        raise _bad(f"version must be one of {', '.join(limits.MODEL_VERSIONS)}")
    for name, check in _OPTIONAL_CHECKS.items():
        if name in body and body[name] is not None:
            check(name, body[name])
    _check_size(params)
    _check_seed(params)
    if params.get("face_refiner") is not None and params["version"] != "v2.1":
        raise _bad("face_refiner is supported on v2.1 only")
    return params


UPLOAD_TOO_LARGE = -602
UNSUPPORTED_FORMAT = -911


def _image(body: dict[str, Any], name: str) -> Image.Image:
    """Decode a base64 input image as Karlo does: -2 when absent or not base64, -602 over 2 MB, -911 when
    not a PNG, JPEG or WebP."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"{name} is required")
    try:
        data = base64.b64decode(re.sub(r"\s+", "", value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad(f"{name} is not valid base64") from exc
    if len(data) > limits.INPUT_IMAGE_MAX_BYTES:
        raise KarloApiError(UPLOAD_TOO_LARGE, f"{name} exceeds the maximum upload size")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError) as exc:
        raise KarloApiError(UNSUPPORTED_FORMAT, f"{name} is not a supported image") from exc
    if image.format not in ("PNG", "JPEG", "WEBP"):
        raise KarloApiError(UNSUPPORTED_FORMAT, f"{name} format {image.format} is not supported")
    return image


def _common(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    params = {**_DEFAULTS, **{k: v for k, v in body.items() if v is not None}}
    for name, check in _OPTIONAL_CHECKS.items():
        if name in body and body[name] is not None:
            check(name, body[name])
    _check_seed(params)
    return params


def validate_variations(body: Any) -> dict[str, Any]:
    params = _common(body)
    if params.get("prompt") is not None:
        _text("prompt", params["prompt"])
    params.setdefault("version", limits.DEFAULT_VERSION)
    if params["version"] not in limits.MODEL_VERSIONS:
        raise _bad(f"version must be one of {', '.join(limits.MODEL_VERSIONS)}")
    _check_size(params)
    params["_image"] = _image(body, "image")
    return params


def validate_inpainting(body: Any) -> dict[str, Any]:
    params = _common(body)
    if not params.get("prompt"):
        raise _bad("prompt is required")
    _text("prompt", params["prompt"])
    if params.get("version", "v2.0") != "v2.0":
        raise _bad("inpainting supports version v2.0 only")
    image, mask = _image(body, "image"), _image(body, "mask")
    if mask.size != image.size:
        raise _bad("mask must be the same size as image")
    params.update({"_image": image, "_mask": mask, "version": "v2.0"})
    return params
