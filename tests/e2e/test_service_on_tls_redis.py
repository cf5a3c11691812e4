"""The whole service on a Redis that speaks only TLS (``rediss://``), as managed Redis services often require:
the API accepts a job (its auto-pipelined accept connection), a Celery worker takes its message and runs it, and
the owner reads it finished. The server's certificate is trusted only through ``SSL_CERT_FILE`` (no option in the
URL), so every client, Celery's broker connection included, is shown verifying it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.api import submit, wait_until_terminal
from support.stacks import AppStack, Services, base_env
from support.tls_redis import tls_redis


@pytest.fixture
def stack(services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppStack]:
    with tls_redis(tmp_path / "redis") as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # this process's own Redis client trusts it too
        tls_services = Services(services.workdir, server.url(), services.sim_url, services.s3_url)
        env = base_env(tls_services, "local", SSL_CERT_FILE=str(server.ca_file))
        started = AppStack(tmp_path, env).start(workers=1)
        try:
            yield started
        finally:
            started.stop()


def test_a_job_is_accepted_run_and_read_over_tls(stack: AppStack) -> None:
    assert stack.redis_url.startswith("rediss://")
    response = submit(stack, {"input": {"prompt": "over tls", "width": 384, "height": 384}})
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"], timeout=60)
    assert job["status"] == "succeeded", job
    assert len(job["output"]["images"]) == 1
    for worker in stack.workers:  # kombu warns when it would skip the certificate check
        assert "insecure SSL" not in worker.log_path.read_text(errors="replace")
