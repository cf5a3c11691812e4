"""Input images from wherever a caller has them: a path, bytes, a PIL image, or an https URL.

Bytes travel as multipart file parts (no base64 inflation); a URL is handed to the service, which fetches it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


@runtime_checkable
class SupportsSave(Protocol):
    """A PIL image, or anything else that can write itself into a file object in a named format."""

    def save(self, fp: Any, format: Any = ..., **params: Any) -> None: ...


ImageSource = str | os.PathLike[str] | bytes | SupportsSave


@dataclass(frozen=True)
class ImageFile:
    """An image to upload as a file part."""

    filename: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class ImageUrl:
    """An image the service fetches itself."""

    url: str


def is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def resolve_image(source: ImageSource, name: str) -> ImageFile | ImageUrl:
    """What to send for one image input; a path that does not exist raises FileNotFoundError."""
    if isinstance(source, str) and is_url(source):
        return ImageUrl(source)
    if isinstance(source, bytes):
        return ImageFile(f"{name}{_extension(source)}", source, _content_type(source))
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        data = path.read_bytes()
        return ImageFile(path.name, data, _content_type(data))
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    return ImageFile(f"{name}.png", buffer.getvalue(), "image/png")


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def _content_type(data: bytes) -> str:
    return _CONTENT_TYPES.get(_sniff(data) or "", "application/octet-stream")


def _extension(data: bytes) -> str:
    found = _sniff(data)
    return f".{found}" if found else ""
