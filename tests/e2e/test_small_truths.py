"""Small things that must be as documented: metrics name the OpenAPI route; invalid JSON is a 422 everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.stacks import AppStack, Services, base_env


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "small-truths", base_env(services, "local")).start(workers=0)
    yield app_stack
    app_stack.stop()


def requests_counted(api: AppStack) -> dict[str, float]:
    lines = httpx.get(f"{api.api_url}/metrics", timeout=10).text.splitlines()
    counted = [line.rsplit(" ", 1) for line in lines if line.startswith("karlo_queue_api_requests_total{")]
    return {series: float(number) for series, number in counted}


def test_the_openapi_document_is_counted_under_its_own_route(api: AppStack) -> None:
    for path in ("/openapi.json", "/docs", "/no/such/path"):
        httpx.get(f"{api.api_url}{path}", timeout=10)
    counted = requests_counted(api)
    assert counted['karlo_queue_api_requests_total{method="GET",route="/openapi.json",status="200"}'] == 1
    assert counted['karlo_queue_api_requests_total{method="GET",route="/docs",status="200"}'] == 1
    assert counted['karlo_queue_api_requests_total{method="GET",route="<unmatched>",status="404"}'] == 1
    assert not any('route="<unmatched>",status="200"' in series for series in counted)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe{}", b'{"url": '], ids=["garbage", "not-utf8", "cut-off"])
def test_unparsable_json_on_every_json_route_is_a_422_naming_the_body(api: AppStack, body: bytes) -> None:
    headers = {**api.headers, "Content-Type": "application/json"}
    for method, path in (("PUT", "/v1/webhooks/default"), ("POST", "/v1/jobs")):
        response = httpx.request(method, f"{api.api_url}{path}", content=body, headers=headers, timeout=10)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [{"field": "body", "rule": "json_invalid", "message": "is not valid JSON"}]


def test_the_openapi_document_lists_422_not_400_for_the_default_webhook(api: AppStack) -> None:
    document = httpx.get(f"{api.api_url}/openapi.json", timeout=10).json()
    responses = document["paths"]["/v1/webhooks/default"]["put"]["responses"]
    assert "422" in responses and "400" not in responses
