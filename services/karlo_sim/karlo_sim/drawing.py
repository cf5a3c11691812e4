"""Deterministic pictures: the same prompt, seed and size always give the same bytes."""

from __future__ import annotations

import hashlib
import io
import random
from typing import Any

from PIL import Image, ImageDraw

from karlo_sim import limits

_PIL_FORMATS = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - pictures, not secrets


def draw(prompt: str, negative_prompt: str, seed: int, width: int, height: int) -> Image.Image:
    rng = _rng(prompt, negative_prompt, seed, width, height)
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    mask = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask)
    pen = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(width // 8, width // 2), y0 + rng.randrange(height // 8, height // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = pen.ellipse if rng.random() < 0.5 else pen.rectangle
        shape((x0, y0, x1, y1), fill=colour)
    pen.text((8, 8), prompt[:60], fill=(255, 255, 255))
    return image


def encode(image: Image.Image, image_format: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    pil_format = _PIL_FORMATS[image_format]
    options: dict[str, object] = {"quality": quality} if image_format in ("webp", "jpeg") else {}
    image.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def _finish(image: Image.Image, params: dict[str, Any]) -> bytes:
    if params.get("upscale"):
        size = limits.upscaled_size(image.width, image.height, int(params.get("scale", 2)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    return encode(image, str(params["image_format"]), int(params["image_quality"]))


def _negative(params: dict[str, Any]) -> str:
    return str(params.get("negative_prompt") or "")


def render(params: dict[str, Any], seed: int) -> bytes:
    """One output image of a t2i request whose parameters were already validated."""
    width, height = int(params["width"]), int(params["height"])
    return _finish(draw(str(params["prompt"]), _negative(params), seed, width, height), params)


def render_variation(params: dict[str, Any], seed: int) -> bytes:
    """A new picture seeded by the source image's pixels, in the requested size."""
    source: Image.Image = params["_image"]
    fingerprint = hashlib.sha256(source.convert("RGB").resize((16, 16)).tobytes()).hexdigest()
    prompt = f"{params.get('prompt') or 'variation'} {fingerprint[:12]}"
    return _finish(draw(prompt, _negative(params), seed, int(params["width"]), int(params["height"])), params)


def square(image: Image.Image) -> Image.Image:
    """Karlo resizes inputs that are not square to 1:1; the side is the longer one."""
    side = max(image.size)
    return image if image.width == image.height else image.resize((side, side), Image.Resampling.BICUBIC)


def render_inpainting(params: dict[str, Any], seed: int) -> bytes:
    """The source image with its black-masked area repainted; the output keeps the (squared) input size."""
    base = square(params["_image"].convert("RGB"))
    mask = square(params["_mask"].convert("L"))
    painted = draw(str(params["prompt"]), _negative(params), seed, base.width, base.height)
    return _finish(Image.composite(base, painted, mask.point(lambda v: 255 if v >= 128 else 0)), params)
