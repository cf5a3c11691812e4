"""Decode image bytes to learn what they really are."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

_PIL_FORMATS = {"WEBP": "webp", "JPEG": "jpeg", "PNG": "png"}


class NotAnImage(ValueError):
    pass


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """Format and size of an image; NotAnImage for anything Pillow cannot fully decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            fmt = _PIL_FORMATS.get(image.format or "", (image.format or "unknown").lower())
            return ImageInfo(format=fmt, width=image.width, height=image.height)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(str(exc)) from exc
