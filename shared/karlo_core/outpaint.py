"""Extending an image beyond its borders: the larger canvas and the inpainting mask that goes with it."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from karlo_core.karlo import rules

#: Neutral grey under the area Karlo will paint.
FILL = (127, 127, 127)


@dataclass(frozen=True)
class Canvas:
    image: bytes
    mask: bytes
    width: int
    height: int
    placement: tuple[int, int, int, int]  # left, top, right, bottom of the original on the canvas


def _encode(image: Image.Image) -> bytes:
    """PNG when it fits Karlo's 2 MB input limit, else a high-quality WebP."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    if buffer.tell() <= rules.INPUT_IMAGE_MAX_BYTES:
        return buffer.getvalue()
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=90)
    return buffer.getvalue()


def build_canvas(data: bytes, *, left: int, top: int, right: int, bottom: int) -> Canvas:
    """Place the image on a larger canvas; the mask is black (repaint) outside it and white inside."""
    with Image.open(io.BytesIO(data)) as source:
        original = source.convert("RGB")
    width, height = original.width + left + right, original.height + top + bottom
    canvas = Image.new("RGB", (width, height), FILL)
    canvas.paste(original, (left, top))
    placement = (left, top, left + original.width, top + original.height)
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, placement)
    mask_buffer = io.BytesIO()
    mask.save(mask_buffer, format="PNG", optimize=True)
    return Canvas(_encode(canvas), mask_buffer.getvalue(), width, height, placement)
