"""A stand-in Karlo that answers photo-sized PNGs: 1280² images, or 2048² when the request asks for upscaling
(Karlo's upscaler caps the longest side at 2048).

The simulator draws small flat pictures that compress to a few kB; photographs do not compress, and a
2048² photo is about 11 MiB as PNG. Here each image is noise over a gradient (about as incompressible as a
photo), encoded once at start and served for every sample, as a link (``return_type=url``, what the worker
asks for) or inline base64. It runs in a thread of the benchmark's process.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

BASE_SIDE = 1280
UPSCALED_SIDE = 2048


def photo_png(side: int, *, seed: int = 7) -> bytes:
    """A ``side``² RGB PNG that compresses about as badly as a photograph."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 160, side, dtype=np.float32)
    pixels = ramp[None, :, None] + ramp[:, None, None] * 0.5 + rng.integers(0, 96, (side, side, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        side = UPSCALED_SIDE if body.get("upscale") else BASE_SIDE
        self.server.calls += 1
        images: list[dict[str, Any]] = []
        for index in range(int(body.get("samples", 1))):
            if body.get("return_type") == "base64_string":
                image = base64.b64encode(self.server.pngs[side]).decode()
            else:
                image = f"http://127.0.0.1:{self.server.server_address[1]}/images/{side}/{index}.png"
            images.append({"id": secrets.token_hex(8), "seed": index, "image": image, "nsfw_content_detected": None})
        answer = json.dumps({"id": secrets.token_hex(8), "model_version": "v2.1", "images": images}).encode()
        self._send(answer, "application/json")

    def do_GET(self) -> None:
        side = int(self.path.split("/")[2])
        self._send(self.server.pngs[side], "image/png")

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pngs = {BASE_SIDE: photo_png(BASE_SIDE), UPSCALED_SIDE: photo_png(UPSCALED_SIDE)}
        self.calls = 0


@contextmanager
def photo_karlo() -> Iterator[tuple[str, dict[int, bytes]]]:
    """The stand-in's base URL and the PNG it serves per side, while the block runs."""
    server = _Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.pngs
    finally:
        server.shutdown()
        server.server_close()
