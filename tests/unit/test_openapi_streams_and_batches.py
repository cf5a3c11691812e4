"""The OpenAPI document describes event streams as text/event-stream and batches with their job bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from karlo_api.app import create_app
from karlo_core.settings import Settings


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    storage = tmp_path_factory.mktemp("openapi-storage")
    settings = Settings(storage_url=f"file://{Path(storage)}", redis_url="redis://127.0.0.1:1/0")
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


def test_streams_are_event_streams_of_named_events(document: dict[str, Any]) -> None:
    for path in ("/v1/events", "/v1/jobs/{job_id}/events"):
        operation = document["paths"][path]["get"]
        content = operation["responses"]["200"]["content"]
        assert list(content) == ["text/event-stream"]
        event = content["text/event-stream"]["schema"]
        assert "reset" in event["properties"]["event"]["enum"]
        assert "429" in operation["responses"]
        assert "Last-Event-ID" in {p["name"] for p in operation["parameters"]}
    filters = {p["name"] for p in document["paths"]["/v1/events"]["get"]["parameters"]}
    assert {"event", "kind", "batch"} <= filters
    assert "ResetEvent" in document["components"]["schemas"]


def test_batches_take_job_bodies_as_json_or_json_lines(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/batches"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/jsonl"}
    jobs = body["application/json"]["schema"]["properties"]["jobs"]
    assert jobs["items"] == {"$ref": "#/components/schemas/CreateJobRequest"} and jobs["maxItems"] == 1000
    assert "WebhookOption" in document["components"]["schemas"]
    assert {"/v1/batches/{batch_id}", "/v1/batches/{batch_id}/cancel"} <= set(document["paths"])
    listing = {p["name"] for p in document["paths"]["/v1/jobs"]["get"]["parameters"]}
    assert "batch" in listing
