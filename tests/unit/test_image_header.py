"""Reading format and size from an image's header agrees with a full decode, for every format Karlo returns."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from karlo_core.images import HEADER_BYTES, NotAnImage, image_header, inspect_image


def encoded(fmt: str, size: tuple[int, int], mode: str = "RGB", **options: Any) -> bytes:
    image = Image.radial_gradient("L").resize(size).convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


CASES = {
    "png": ("PNG", {}),
    "png rgba": ("PNG", {"mode": "RGBA"}),
    "jpeg": ("JPEG", {"quality": 70}),
    "jpeg progressive with exif": ("JPEG", {"progressive": True, "exif": b"Exif\x00\x00" + b"\x00" * 2000}),
    "webp lossy": ("WEBP", {"quality": 70}),
    "webp lossless": ("WEBP", {"lossless": True}),
    "webp with alpha": ("WEBP", {"mode": "RGBA", "quality": 70}),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("size", [(1, 1), (640, 480), (2048, 2048), (1280, 720)])
def test_the_header_gives_what_a_full_decode_does(case: str, size: tuple[int, int]) -> None:
    fmt, options = CASES[case]
    data = encoded(fmt, size, **options)
    assert image_header(data[:HEADER_BYTES]) == inspect_image(data)
    assert image_header(data[:HEADER_BYTES]).width == size[0]


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a" + b"\x00" * 40, b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, b"RIFF\x00"],
)
def test_anything_else_is_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        image_header(data)
