"""One stack for every SDK and CLI test: API, a worker, the simulator, S3, a webhook receiver, an image server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from karlo_devstack.processes import ManagedProcess, free_port, http_ok
from karloq import AsyncClient, Client
from support.images import image_bytes
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env

STACK_ENV = {
    "KARLOQ_INPUT_URL_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_INPUT_URL_ALLOW_HTTP": "true",
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_WEBHOOK_RETRY_SCHEDULE": "0.3s,0.5s,1s",
    "KARLOQ_WEBHOOK_TIMEOUT_SECONDS": "1",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
    "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.2",
}


@pytest.fixture(scope="package")
def stack(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "client", base_env(services, "s3", **STACK_ENV))
    app_stack.start(workers=1)
    yield app_stack
    app_stack.stop()


@pytest.fixture(scope="package")
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir), name="client-receiver").start()
    yield started
    started.stop()


@pytest.fixture(scope="package")
def image_server(services: Services) -> Iterator[str]:
    """Serves ``photo.png`` over plain HTTP on loopback, for inputs given by URL."""
    root = services.workdir / "client-images"
    root.mkdir(exist_ok=True)
    (root / "photo.png").write_bytes(image_bytes(96, 96, "PNG", (10, 120, 200)))
    port = free_port()
    proc = ManagedProcess(
        "client-image-server",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)],
        log_path=services.workdir / "logs" / "client-image-server.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/photo.png"))
    yield url
    proc.stop()


@pytest.fixture
def client(stack: AppStack) -> Iterator[Client]:
    with Client(stack.api_url, stack.tenant.api_key) as sdk:
        yield sdk


@pytest.fixture
def async_client(stack: AppStack) -> AsyncClient:
    return AsyncClient(stack.api_url, stack.tenant.api_key)
