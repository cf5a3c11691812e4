"""Decode image bytes to learn what they really are, refusing floods before any pixel is decoded."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from karlo_core.karlo import rules

_PIL_FORMATS = {"WEBP": "webp", "JPEG": "jpeg", "PNG": "png"}
#: The most pixels decoded from one input image (Karlo's largest side, squared); a few MB of compressed input
#: can declare hundreds of millions, so the header is checked first.
MAX_PIXELS = rules.MAX_SIDE * rules.MAX_SIDE
#: Animated images (APNG, animated WebP) could hide many full frames behind one small header.
MAX_FRAMES = 1


# Pillow warns of (and lets through) images between its limit and twice it; the pixel count is checked here,
# against a far lower limit, before anything is decoded, so the warning says nothing new.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class NotAnImage(ValueError):
    pass


class ImageTooLarge(NotAnImage):
    """The header declares more pixels or frames than allowed; nothing was decoded. The message completes
    the sentence "<field> ..."."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def inspect_image(
    data: bytes, *, max_side: int | None = None, max_pixels: int | None = None, max_frames: int | None = None
) -> ImageInfo:
    """Format and size of an image; NotAnImage for anything Pillow cannot fully decode, ImageTooLarge (from
    the header alone, before decoding) for more than ``max_side`` per side, ``max_pixels`` or ``max_frames``
    (each unchecked when None; callers judging untrusted input pass :data:`MAX_PIXELS` and :data:`MAX_FRAMES`)."""
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"declares far more than {max_pixels or Image.MAX_IMAGE_PIXELS} pixels in all") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise NotAnImage(str(exc)) from exc
    with image:
        width, height = image.size
        if max_side is not None and max(width, height) > max_side:
            raise ImageTooLarge(f"is {width}x{height}; at most {max_side} pixels per side")
        if max_pixels is not None and width * height > max_pixels:
            raise ImageTooLarge(f"is {width}x{height}; at most {max_pixels} pixels in all")
        try:
            frames = int(getattr(image, "n_frames", 1))
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            raise NotAnImage(str(exc)) from exc
        if max_frames is not None and frames > max_frames:
            raise ImageTooLarge(f"has {frames} frames; at most {max_frames} (no animations)")
        try:
            image.load()
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            raise NotAnImage(str(exc)) from exc
        fmt = _PIL_FORMATS.get(image.format or "", (image.format or "unknown").lower())
        return ImageInfo(format=fmt, width=width, height=height)
