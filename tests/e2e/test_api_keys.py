"""Every call needs a tenant's API key: missing, unknown and revoked keys get a 401 problem; a revoked key
within ``KARLOQ_AUTH_CACHE_SECONDS`` of its revocation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from karlo_core import tenants
from karlo_devstack.stack import dev_api_key
from support.api import submit
from support.stacks import AppStack, Services, base_env

BODY = {"input": {"prompt": "a key", "width": 384, "height": 384}}
AUTH_CACHE_SECONDS = 1.0


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    env = base_env(services, "local", KARLOQ_AUTH_CACHE_SECONDS=str(AUTH_CACHE_SECONDS))
    app_stack = AppStack(Path(services.workdir) / "api-keys", env).start(workers=0)
    yield app_stack
    app_stack.stop()


def _assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"] == "/problems/unauthorized"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer kq_0123456789ab_not-a-real-secret"},
        {"Authorization": "Bearer something-else"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["missing", "unknown", "malformed", "not-bearer"],
)
def test_calls_without_a_valid_key_are_refused(stack: AppStack, headers: dict[str, str]) -> None:
    _assert_unauthorized(httpx.post(f"{stack.api_url}/v1/jobs", json=BODY, headers=headers, timeout=10))
    _assert_unauthorized(httpx.get(f"{stack.api_url}/v1/quota", headers=headers, timeout=10))
    assert stack.redis().llen("jobs") == 0


def test_a_revoked_key_stops_working_within_the_auth_cache_bound(stack: AppStack) -> None:
    caller = stack.new_tenant("short-lived")
    assert submit(caller, BODY).status_code == 202  # the API process now keeps the key's tenant
    key_id = caller.api_key.split("_")[1]
    with stack.redis() as client:
        assert tenants.revoke_key(client, key_id)
    time.sleep(AUTH_CACHE_SECONDS + 0.1)
    _assert_unauthorized(submit(caller, BODY))
    _assert_unauthorized(submit(caller, BODY))


def test_health_and_docs_need_no_key(stack: AppStack) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert httpx.get(f"{stack.api_url}{path}", timeout=10).status_code == 200, path


def test_the_openapi_document_declares_bearer_auth(stack: AppStack) -> None:
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["HTTPBearer"]["description"],
    }
    assert document["paths"]["/v1/jobs"]["post"]["security"] == [{"HTTPBearer": []}]


def test_the_local_stack_keeps_one_dev_key(stack: AppStack, tmp_path: Path) -> None:
    key_file = tmp_path / "dev-api-key"
    first = dev_api_key(stack.redis_url, key_file)
    assert dev_api_key(stack.redis_url, key_file) == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    with stack.redis() as client:
        assert tenants.authenticate(client, first) is not None
