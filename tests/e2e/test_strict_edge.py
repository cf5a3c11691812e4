"""The edge is as strict as the OpenAPI document: media types, integer types, multipart parts and prompt text.

Every refusal is a problem document naming what is wrong, and nothing is stored or enqueued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.api import submit
from support.images import b64, image_bytes
from support.stacks import AppStack, Services, base_env, job_state_keys

PNG = image_bytes(64, 64, "PNG")


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[AppStack]:
    """An API with no worker: any job that got through would stay in the queue for all to see."""
    app_stack = AppStack(Path(services.workdir) / "strict-edge", base_env(services, "local")).start(workers=0)
    yield app_stack
    app_stack.stop()


def post(api: AppStack, **kwargs: Any) -> httpx.Response:
    headers = {**api.headers, **kwargs.pop("headers", {})}
    return httpx.post(f"{api.api_url}/v1/jobs", headers=headers, timeout=30, **kwargs)


def assert_nothing_stored(api: AppStack) -> None:
    client = api.redis()
    assert job_state_keys(client) == []
    assert client.llen("jobs") == 0


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"input": {"prompt": "a cat"}}'),
        ("application/x-www-form-urlencoded", b'{"input": {"prompt": "a cat"}}'),
        (None, b'{"input": {"prompt": "a cat"}}'),
    ],
    ids=["text-plain", "curl-d-form", "no-content-type"],
)
def test_bodies_of_other_media_types_get_415_naming_the_accepted_ones(
    api: AppStack, content_type: str | None, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = post(api, content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/unsupported-media-type"
    assert "application/json" in problem["detail"] and "multipart/form-data" in problem["detail"]
    assert response.headers["Accept-Post"] == "application/json, multipart/form-data"
    assert_nothing_stored(api)


def test_json_with_a_charset_is_still_json(api: AppStack) -> None:
    body = json.dumps({"input": {"prompt": "a cat", "samples": "2"}}).encode()
    response = post(api, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert problem_fields(response) == ["input.samples"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"width": "512"}, "input.width"),
        ({"width": 512.0}, "input.width"),
        ({"height": True}, "input.height"),
        ({"samples": True}, "input.samples"),
        ({"samples": "2"}, "input.samples"),
        ({"samples": 2.0}, "input.samples"),
        ({"seed": ["1"]}, "input.seed[0]"),
        ({"image_quality": 70.5}, "input.image_quality"),
        ({"upscale": "true"}, "input.upscale"),
        ({"scale": "2"}, "input.scale"),
        ({"face_refiner": {"restoration_repeats": "2"}}, "input.face_refiner.restoration_repeats"),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else str(value),
)
def test_integer_fields_take_integers_only(api: AppStack, values: dict[str, Any], field: str) -> None:
    response = submit(api, {"kind": "generate", "input": {"prompt": "a cat", **values}})
    assert field in problem_fields(response)
    assert_nothing_stored(api)


def test_extend_margins_take_integers_only(api: AppStack) -> None:
    body = {"kind": "extend", "input": {"image": b64(PNG), "prompt": "sky", "extend": {"top": "128"}}}
    assert "input.extend.top" in problem_fields(submit(api, body))


def test_the_openapi_document_says_integer_where_integers_are_required(api: AppStack) -> None:
    schemas = httpx.get(f"{api.api_url}/openapi.json", timeout=10).json()["components"]["schemas"]
    params = schemas["GenerateParams"]["properties"]
    assert params["samples"]["type"] == "integer"
    assert {"type": "integer"} in params["width"]["anyOf"]
    assert schemas["Margins"]["properties"]["top"]["type"] == "integer"
    responses = httpx.get(f"{api.api_url}/openapi.json", timeout=10).json()["paths"]["/v1/jobs"]["post"]["responses"]
    assert "415" in responses


def multipart(api: AppStack, files: list[tuple[str, Any]]) -> httpx.Response:
    return post(api, files=files)


def test_multipart_without_the_input_part_is_refused(api: AppStack) -> None:
    response = multipart(api, [("kind", (None, "variation")), ("image", ("a.png", PNG, "image/png"))])
    assert problem_fields(response) == ["input"]
    assert "required part" in response.json()["errors"][0]["message"]
    assert_nothing_stored(api)


def test_multipart_with_two_image_parts_is_refused(api: AppStack) -> None:
    files = [
        ("kind", (None, "variation")),
        ("input", (None, "{}")),
        ("image", ("a.png", PNG, "image/png")),
        ("image", ("b.png", image_bytes(64, 64, "PNG", (0, 0, 200)), "image/png")),
    ]
    response = multipart(api, files)
    assert problem_fields(response) == ["image"]
    assert "2 times" in response.json()["errors"][0]["message"]
    assert_nothing_stored(api)


@pytest.mark.parametrize("field", ["image", "image_url"])
def test_multipart_image_part_and_an_image_in_input_are_refused(api: AppStack, field: str) -> None:
    value = b64(PNG) if field == "image" else "https://example.com/a.png"
    files = [
        ("kind", (None, "variation")),
        ("input", (None, json.dumps({field: value}))),
        ("image", ("a.png", PNG, "image/png")),
    ]
    response = multipart(api, files)
    assert problem_fields(response) == ["image"]
    message = response.json()["errors"][0]["message"]
    assert "'image'" in message and f"input.{field}" in message
    assert_nothing_stored(api)


def test_multipart_with_one_of_each_part_is_accepted(api: AppStack) -> None:
    files = [("kind", (None, "variation")), ("input", (None, "{}")), ("image", ("a.png", PNG, "image/png"))]
    response = multipart(api, files)
    assert response.status_code == 202, response.text
    api.redis().delete("jobs")  # no worker takes it; later tests count an empty queue


@pytest.mark.parametrize(
    ("field", "text", "rule"),
    [
        ("prompt", "   ", "blank"),
        ("prompt", "\t \n", "control_character"),
        ("prompt", "a cat\x00", "control_character"),
        ("prompt", "a cat\x1b[31m", "control_character"),
        ("prompt", "a cat\x7f", "control_character"),
        ("negative_prompt", "text\x00", "control_character"),
    ],
    ids=["spaces", "whitespace-controls", "nul", "escape", "del", "negative-nul"],
)
def test_blank_prompts_and_control_characters_are_refused(api: AppStack, field: str, text: str, rule: str) -> None:
    values = {"prompt": "a cat", field: text}
    response = submit(api, {"kind": "generate", "input": values})
    assert problem_fields(response) == [f"input.{field}"]
    error = response.json()["errors"][0]
    assert error["rule"] == rule
    if rule == "control_character":
        assert "U+" in error["message"]
    assert_nothing_stored(api)


def test_non_english_prompts_name_each_offending_character(api: AppStack) -> None:
    response = submit(api, {"kind": "generate", "input": {"prompt": "маяк на закате"}})
    message = response.json()["errors"][0]["message"]
    assert "found 'м', '\u0430', 'я', 'к', 'н' (Cyrillic)" in message, message
