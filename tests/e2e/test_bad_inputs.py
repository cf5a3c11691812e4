"""Bad input is refused at the edge with the field named, and nothing is stored or enqueued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.api import submit
from support.images import b64, image_bytes, mask_bytes
from support.stacks import AppStack, Services, base_env, job_state_keys

PNG = b64(image_bytes(64, 64, "PNG"))
PDF = b64(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
GIF = b64(image_bytes(64, 64, "GIF"))
BIG_PNG = b64(image_bytes(8, 8, "PNG") + b"\0" * (3 * 1024 * 1024))  # 3 MB: a PNG with trailing bytes
HUGE_SIDE = b64(image_bytes(2100, 16, "PNG"))
MASK_32 = b64(mask_bytes(32, 32, (4, 4, 12, 12)))


def gen(**values: Any) -> dict[str, Any]:
    return {"kind": "generate", "input": {"prompt": "a cat", **values}}


def var(**values: Any) -> dict[str, Any]:
    return {"kind": "variation", "input": {"image": PNG, **values}}


def inp(**values: Any) -> dict[str, Any]:
    return {"kind": "inpaint", "input": {"image": PNG, "mask": b64(mask_bytes()), "prompt": "a door", **values}}


def ext(**values: Any) -> dict[str, Any]:
    return {"kind": "extend", "input": {"image": PNG, "prompt": "more", "extend": {"left": 64}, **values}}


def without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {**body, "input": {k: v for k, v in body["input"].items() if k != name}}


CASES: list[tuple[str, Any, str]] = [
    ("width not a multiple of 8", gen(width=500), "input.width"),
    ("height not a multiple of 8", gen(height=1001), "input.height"),
    ("width below range", gen(width=256), "input.width"),
    ("width above v2.1 range", gen(width=1288), "input.width"),
    ("width above v2.0 range", gen(version="v2.0", width=768), "input.width"),
    ("height above v2.0 range", gen(version="v2.0", height=1024), "input.height"),
    ("too many samples", gen(samples=9), "input.samples"),
    ("zero samples", gen(samples=0), "input.samples"),
    ("seeds fewer than samples", gen(samples=3, seed=[1, 2]), "input.seed"),
    ("seeds more than samples", gen(seed=[1, 2]), "input.seed"),
    ("negative seed", gen(seed=[-1]), "input.seed"),
    ("seed above uint32", gen(seed=[2**32]), "input.seed"),
    ("257-char prompt", gen(prompt="x" * 257), "input.prompt"),
    ("empty prompt", gen(prompt=""), "input.prompt"),
    ("missing prompt", without(gen(), "prompt"), "input.prompt"),
    ("257-char negative prompt", gen(negative_prompt="y" * 257), "input.negative_prompt"),
    ("Korean prompt", gen(prompt="고양이 한 마리"), "input.prompt"),
    ("Japanese negative prompt", gen(negative_prompt="ねこ"), "input.negative_prompt"),
    ("Cyrillic prompt", gen(prompt="кошка"), "input.prompt"),
    ("unknown version", gen(version="v3.0"), "input.version"),
    ("unknown image format", gen(image_format="gif"), "input.image_format"),
    ("image quality 0", gen(image_quality=0), "input.image_quality"),
    ("image quality 101", gen(image_quality=101), "input.image_quality"),
    ("upscale scale 3", gen(upscale=True, scale=3), "input.scale"),
    ("decoder steps 9", gen(num_inference_steps=9), "input.num_inference_steps"),
    ("prior steps 101", gen(prior_num_inference_steps=101), "input.prior_num_inference_steps"),
    ("guidance 0.5", gen(guidance_scale=0.5), "input.guidance_scale"),
    ("prior guidance 21", gen(prior_guidance_scale=21), "input.prior_guidance_scale"),
    ("unknown scheduler", gen(scheduler="euler"), "input.scheduler"),
    ("face refiner on v2.0", gen(version="v2.0", face_refiner={"weight_sft": 0.5}), "input.face_refiner"),
    ("face refiner weight 2", gen(face_refiner={"weight_sft": 2}), "input.face_refiner.weight_sft"),
    ("unknown parameter", gen(strength=0.5), "input.strength"),
    ("unknown kind", {"kind": "upscale", "input": {"prompt": "x"}}, "kind"),
    ("input not an object", {"kind": "generate", "input": "a cat"}, "input"),
    ("variation without image", without(var(), "image"), "input.image"),
    ("truncated base64", var(image=PNG[:-7]), "input.image"),
    ("a PDF called PNG", var(image=PDF), "input.image"),
    ("a GIF", var(image=GIF), "input.image"),
    ("a 3 MB image", var(image=BIG_PNG), "input.image"),
    ("an image 2100 px wide", var(image=HUGE_SIDE), "input.image"),
    ("image and image_url both", var(image_url="https://example.com/a.png"), "input.image_url"),
    ("variation width not multiple of 8", var(width=1020), "input.width"),
    ("URL to 127.0.0.1", without(var(image_url="http://127.0.0.1:8000/a.png"), "image"), "input.image_url"),
    ("https URL to 127.0.0.1", without(var(image_url="https://127.0.0.1/a.png"), "image"), "input.image_url"),
    (
        "URL to the metadata service",
        without(var(image_url="http://169.254.169.254/latest/meta-data"), "image"),
        "input.image_url",
    ),
    ("URL to localhost by name", without(var(image_url="https://localhost/a.png"), "image"), "input.image_url"),
    ("URL to a private address", without(var(image_url="https://10.0.0.1/a.png"), "image"), "input.image_url"),
    ("URL to NAT64 of loopback", without(var(image_url="https://[64:ff9b::7f00:1]/"), "image"), "input.image_url"),
    ("URL to IPv4-compatible loopback", without(var(image_url="https://[::127.0.0.1]/"), "image"), "input.image_url"),
    ("URL to 6to4 of a private address", without(var(image_url="https://[2002:a00:1::]/"), "image"), "input.image_url"),
    ("URL to site-local IPv6", without(var(image_url="https://[fec0::1]/"), "image"), "input.image_url"),
    ("URL to the 6to4 relay", without(var(image_url="https://192.88.99.1/"), "image"), "input.image_url"),
    ("URL with a file scheme", without(var(image_url="file:///etc/passwd"), "image"), "input.image_url"),
    ("inpaint without mask", without(inp(), "mask"), "input.mask"),
    ("mask of the wrong size", inp(mask=MASK_32), "input.mask"),
    ("inpaint on v2.1", inp(version="v2.1"), "input.version"),
    ("inpaint without prompt", without(inp(), "prompt"), "input.prompt"),
    ("extend with no growth", ext(extend={"left": 0}), "input.extend"),
    ("extend by a negative amount", ext(extend={"left": -8}), "input.extend.left"),
    ("extend beyond 2048", ext(image=b64(image_bytes(1200, 1200, "PNG")), extend={"left": 900}), "input.extend"),
    ("extend without image", without(ext(), "image"), "input.image"),
]


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[AppStack]:
    """An API with no worker: any job that got through would stay in the queue for all to see."""
    app_stack = AppStack(Path(services.workdir) / "bad-inputs", base_env(services, "local")).start(workers=0)
    yield app_stack
    app_stack.stop()


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("name", "body", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused(api: AppStack, name: str, body: Any, field: str) -> None:
    redis_client = api.redis()
    queued_before = redis_client.llen("jobs")
    response = submit(api, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert all(e["message"] for e in problem["errors"])
    assert job_state_keys(redis_client) == []
    assert redis_client.llen("jobs") == queued_before


def test_invalid_json_is_a_problem(api: AppStack) -> None:
    response = httpx.post(
        f"{api.api_url}/v1/jobs",
        content=b"{not json",
        timeout=10,
        headers={**api.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


def test_non_english_prompts_can_be_let_through(services: Services) -> None:
    env = base_env(services, "local", KARLOQ_ALLOW_NON_ENGLISH_PROMPTS="true")
    app_stack = AppStack(Path(services.workdir) / "non-english", env).start(workers=0)
    try:
        assert submit(app_stack, gen(prompt="고양이")).status_code == 202
    finally:
        app_stack.stop()


def test_oversize_bodies_are_refused_before_being_read_whole(api: AppStack) -> None:
    response = submit(api, gen(prompt="x" * (17 * 1024 * 1024)))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("arrays 100000 deep", b"[" * 100_000 + b"]" * 100_000),
        ("objects 100000 deep", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        ("input 900 deep", b'{"kind":"generate","input":' + b'{"a":' * 900 + b"1" + b"}" * 901),
        ("webhook 900 deep", b'{"input":{"prompt":"a cat"},"webhook":' + b"[" * 900 + b"]" * 900 + b"}"),
    ],
)
def test_deeply_nested_json_is_refused_with_422(api: AppStack, name: str, content: bytes) -> None:
    response = httpx.post(
        f"{api.api_url}/v1/jobs",
        content=content,
        timeout=30,
        headers={**api.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    with api.redis() as client:
        assert job_state_keys(client) == []


def test_deeply_nested_json_in_a_multipart_part_is_refused_with_422(api: AppStack) -> None:
    files = {"kind": (None, "generate"), "input": (None, "[" * 100_000 + "]" * 100_000)}
    response = httpx.post(f"{api.api_url}/v1/jobs", files=files, timeout=30, headers=api.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "input"


def test_deeply_nested_json_elsewhere_is_a_client_error(api: AppStack) -> None:
    response = httpx.put(
        f"{api.api_url}/v1/webhooks/default",
        content=b"[" * 100_000 + b"]" * 100_000,
        timeout=30,
        headers={**api.headers, "content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
