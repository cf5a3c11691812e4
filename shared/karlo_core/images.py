"""What an image is: decoded in full for input we are given (refusing floods before any pixel is decoded), or
read from its header alone for images a backend made (format and size in well under a millisecond, where a
full decode of a 2048² image costs 60-120 ms of CPU)."""

from __future__ import annotations

import io
import struct
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


#: Enough of a file's start to find its size: PNG and WebP say it in their first 30 bytes; a JPEG's frame header
#: follows its metadata segments (EXIF, ICC profile), which a backend's output keeps short.
HEADER_BYTES = 64 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are other segments.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_header(head: bytes) -> ImageInfo:
    """Format and size from the start of an encoded PNG, JPEG or WebP (at least :data:`HEADER_BYTES` of it, or
    all of a shorter file), without decoding pixels; NotAnImage when the header is not one of those."""
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return _sized("png", width, height)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_header(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_header(head)
    raise NotAnImage("not a PNG, JPEG or WebP header")


def _jpeg_header(head: bytes) -> ImageInfo:
    at = 2
    while at + 4 <= len(head):
        if head[at] != 0xFF:
            raise NotAnImage("JPEG segments out of step")
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", head[at + 2 : at + 4])
        if marker in _JPEG_FRAMES:
            if at + 9 > len(head):
                break
            height, width = struct.unpack(">HH", head[at + 5 : at + 9])
            return _sized("jpeg", width, height)
        if marker == 0xDA or length < 2:  # scan data before any frame header
            break
        at += 2 + length
    raise NotAnImage("no JPEG frame header in the image's start")


def _webp_header(head: bytes) -> ImageInfo:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return _sized("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        (bits,) = struct.unpack("<I", head[21:25])
        return _sized("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return _sized("webp", width, height)
    raise NotAnImage("WebP header not understood")


def _sized(fmt: str, width: int, height: int) -> ImageInfo:
    if width <= 0 or height <= 0:
        raise NotAnImage(f"{fmt} header declares an empty image")
    return ImageInfo(format=fmt, width=width, height=height)
