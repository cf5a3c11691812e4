"""Every job kind over the real wire: POST, worker, Karlo simulator, storage, download and decode."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from karlo_devstack.processes import ManagedProcess, free_port, http_ok
from support.api import submit, wait_until_terminal
from support.images import b64, decode, image_bytes, mask_bytes
from support.stacks import AppStack, Services, base_env, sim_stats


@pytest.fixture(scope="module")
def image_server(services: Services) -> Iterator[str]:
    """A plain HTTP server on loopback that serves input images by URL."""
    root = services.workdir / "served-images"
    root.mkdir(exist_ok=True)
    (root / "photo.png").write_bytes(image_bytes(400, 384, "PNG", (10, 120, 200)))
    port = free_port()
    proc = ManagedProcess(
        "image-server",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)],
        log_path=services.workdir / "logs" / "image-server.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/photo.png"))
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    env = base_env(services, "s3", KARLOQ_INPUT_URL_ALLOW_NETWORKS="127.0.0.0/8", KARLOQ_INPUT_URL_ALLOW_HTTP="true")
    app_stack = AppStack(Path(services.workdir) / "kinds", env).start(workers=1)
    yield app_stack
    app_stack.stop()


def _images_of(stack: AppStack, job: dict) -> list:  # type: ignore[type-arg]
    assert job["status"] == "succeeded", job
    return [decode(httpx.get(i["url"], timeout=10).content) for i in job["output"]["images"]]


def test_generate_with_upscale(stack: AppStack) -> None:
    body = {
        "kind": "generate",
        "input": {
            "prompt": "a harbour",
            "version": "v2.0",
            "width": 640,
            "height": 512,
            "samples": 3,
            "upscale": True,
            "scale": 4,
            "image_format": "jpeg",
        },
    }
    job = wait_until_terminal(stack, submit(stack, body).json()["id"])
    images = _images_of(stack, job)
    assert [(i.format, i.size) for i in images] == [("JPEG", (2048, 1638))] * 3


def test_variation_from_base64(stack: AppStack, services: Services) -> None:
    body = {
        "kind": "variation",
        "input": {
            "image": b64(image_bytes(512, 512, "WEBP")),
            "prompt": "in autumn",
            "width": 768,
            "height": 512,
            "samples": 2,
            "seed": [1, 2],
        },
    }
    response = submit(stack, body)
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"])
    assert [(i.format, i.size) for i in _images_of(stack, job)] == [("WEBP", (768, 512))] * 2
    assert job["input"]["image"]["format"] == "webp"
    assert job["notices"] == []
    assert sim_stats(services.sim_url)["last_inputs"]["variations"]["image"] == {
        "width": 512,
        "height": 512,
        "format": "WEBP",
    }


def test_inpaint_from_multipart_upload(stack: AppStack, services: Services) -> None:
    files = {
        "image": ("photo.jpg", image_bytes(512, 512, "JPEG"), "image/jpeg"),
        "mask": ("mask.png", mask_bytes(512, 512, (100, 100, 300, 300)), "image/png"),
    }
    data = {"kind": "inpaint", "input": '{"prompt": "a red door", "image_format": "png", "samples": 2}'}
    response = httpx.post(f"{stack.api_url}/v1/jobs", data=data, files=files, headers=stack.headers, timeout=30)
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"])
    assert [(i.format, i.size) for i in _images_of(stack, job)] == [("PNG", (512, 512))] * 2
    received = sim_stats(services.sim_url)["last_inputs"]["inpainting"]
    assert received["image"]["format"] == "JPEG"
    assert received["mask"]["kept_box"] == [0, 0, 512, 512]  # white border around the black box


def test_extend_builds_canvas_and_mask_from_a_url_image(stack: AppStack, services: Services, image_server: str) -> None:
    body = {
        "kind": "extend",
        "input": {
            "image_url": f"{image_server}/photo.png",
            "prompt": "more sky",
            "extend": {"left": 48, "right": 80, "top": 96, "bottom": 32},
        },
    }
    response = submit(stack, body)
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"])
    images = _images_of(stack, job)
    received = sim_stats(services.sim_url)["last_inputs"]["inpainting"]
    # 400x384 grows to 528x512; the original sits at (48, 96) and is the only area the mask keeps.
    assert (received["image"]["width"], received["image"]["height"]) == (528, 512)
    assert (received["mask"]["width"], received["mask"]["height"]) == (528, 512)
    assert received["mask"]["kept_box"] == [48, 96, 448, 480]
    assert job["input"]["canvas"] == {"width": 528, "height": 512, "placement": [48, 96, 448, 480]}
    assert job["input"]["original"]["width"] == 400
    assert images[0].size == (528, 528)  # Karlo squares a non-square canvas ...
    assert "not square" in job["notices"][0]  # ... and the caller is told
