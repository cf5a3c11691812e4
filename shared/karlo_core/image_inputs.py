"""Input images: decoded from base64 (or fetched by the API from a URL), then proven to be what Karlo accepts."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from karlo_core.images import MAX_FRAMES, MAX_PIXELS, ImageInfo, ImageTooLarge, NotAnImage, inspect_image
from karlo_core.karlo import rules

ACCEPTED_FORMATS = ("png", "jpeg", "webp")
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


class InvalidImage(ValueError):
    """The image input breaks a rule; the message completes the sentence "<field> ..."."""


@dataclass(frozen=True)
class InputImage:
    data: bytes
    info: ImageInfo

    @property
    def square(self) -> bool:
        return self.info.width == self.info.height


def decode_base64(text: str) -> bytes:
    """Plain or data: URL base64; line breaks (as Python's ``base64.encodebytes`` writes them) are fine."""
    body = re.sub(r"\s+", "", _DATA_URL.sub("", text.strip()))
    if len(body) > rules.INPUT_IMAGE_MAX_BYTES * 2:
        raise InvalidImage(f"is larger than {rules.INPUT_IMAGE_MAX_BYTES // (1024 * 1024)} MB")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage("is not valid base64") from exc


def validate_image(data: bytes) -> InputImage:
    if len(data) > rules.INPUT_IMAGE_MAX_BYTES:
        raise InvalidImage(f"is larger than 2 MB ({len(data)} bytes)")
    try:
        info = inspect_image(data, max_side=rules.MAX_SIDE, max_pixels=MAX_PIXELS, max_frames=MAX_FRAMES)
    except ImageTooLarge as exc:
        raise InvalidImage(str(exc)) from exc
    except NotAnImage as exc:
        raise InvalidImage("is not a decodable image (PNG, JPEG or WebP)") from exc
    if info.format not in ACCEPTED_FORMATS:
        raise InvalidImage(f"is a {info.format.upper()} image; Karlo accepts PNG, JPEG or WebP")
    return InputImage(data, info)
