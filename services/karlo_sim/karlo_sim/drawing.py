"""Deterministic pictures: the same prompt, seed and size always give the same bytes."""

from __future__ import annotations

import hashlib
import io
import random

from PIL import Image, ImageDraw

from karlo_core.karlo import rules

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


def render(params: dict[str, object], seed: int) -> bytes:
    """One output image of a t2i request whose parameters were already validated."""
    width, height = int(params["width"]), int(params["height"])  # type: ignore[call-overload]
    image = draw(str(params["prompt"]), str(params.get("negative_prompt") or ""), seed, width, height)
    if params.get("upscale"):
        size = rules.upscaled_size(width, height, int(params.get("scale", 2)))  # type: ignore[call-overload]
        image = image.resize(size, Image.Resampling.BICUBIC)
    return encode(image, str(params["image_format"]), int(params["image_quality"]))  # type: ignore[call-overload]
