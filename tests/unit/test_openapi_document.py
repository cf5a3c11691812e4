"""The OpenAPI document is complete: every field described, every error answer a documented problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from karlo_api.app import create_app
from karlo_core.settings import Settings

UNAUTHENTICATED = {"/healthz", "/readyz", "/v1/files/{key}"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    storage = tmp_path_factory.mktemp("openapi-storage")
    settings = Settings(storage_url=f"file://{Path(storage)}", redis_url="redis://127.0.0.1:1/0")
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_field_is_described(document: dict[str, Any]) -> None:
    undescribed = [
        f"{name}.{field}"
        for name, schema in document["components"]["schemas"].items()
        for field, prop in schema.get("properties", {}).items()
        if "description" not in prop and "$ref" not in prop
    ]
    assert undescribed == []


def test_every_error_answer_is_a_problem_document(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")) and path not in ("/readyz",):
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)


def test_every_v1_call_declares_its_key_and_401(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        if path in UNAUTHENTICATED:
            continue
        assert op.get("security") == [{"HTTPBearer": []}], (method, path)
        assert "401" in op["responses"], (method, path)


def test_job_creation_has_an_example_per_kind(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert sorted(body["examples"]) == ["extend", "generate", "inpaint", "variation"]
    assert document["components"]["schemas"]["JobView"]["examples"]
