"""Small real images for tests, made with Pillow."""

from __future__ import annotations

import base64
import io
import struct
import zlib

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


def pixel_flood_png(width: int, height: int) -> bytes:
    """A PNG declaring ``width`` x ``height`` grey pixels, all black: a few hundred KB that would decode to
    ``width * height`` bytes. Written row by row, so making it needs no such memory here."""
    raw = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte 0, then the row's pixels
    body = b"".join(raw.compress(row) for _ in range(height)) + raw.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def animated(fmt: str, frames: int = 3, width: int = 64, height: int = 64) -> bytes:
    """An animated PNG or WebP of ``frames`` differently coloured frames."""
    images = [Image.new("RGB", (width, height), (40 * i % 256, 80, 120)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt, save_all=True, append_images=images[1:])
    return buffer.getvalue()
