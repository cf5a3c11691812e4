"""Small real images for tests, made with Pillow."""

from __future__ import annotations

import base64
import io

from PIL import Image


def image_bytes(
    width: int = 64, height: int = 64, fmt: str = "PNG", colour: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def mask_bytes(width: int = 64, height: int = 64, box: tuple[int, int, int, int] = (16, 16, 48, 48)) -> bytes:
    """White (keep) everywhere but a black box (repaint)."""
    mask = Image.new("L", (width, height), 255)
    mask.paste(0, box)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
