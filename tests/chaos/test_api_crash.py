"""An API process SIGKILLed mid-request never strands its caller: a retry with the same Idempotency-Key
returns the job the dead request made (recorded with the job's creation), or, if it died before making one,
runs once the short claim has lapsed. Either way exactly one job runs."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from karlo_devstack.processes import wait_until
from karlo_devstack.services import start_api, start_redis
from support.api import Tenant, submit, wait_until_terminal
from support.images import image_bytes
from support.stacks import AppStack, Services, base_env, sim_stats

BODY = {"input": {"prompt": "asked twice, made once", "width": 384, "height": 384}}
LEASE = "2"


def _jobs(client: redis.Redis) -> list[str]:
    return [str(k) for k in client.scan_iter("karloq:job:*")]


def _restart_api(stack: AppStack) -> Tenant:
    """A new API process in place of the killed one; the caller's key works against it."""
    stack.api, stack.api_url = start_api(stack.workdir, stack.env, name="api-again")
    return Tenant(stack.api_url, stack.tenant.tenant_id, stack.tenant.api_key)


def test_a_retry_after_the_api_died_having_made_the_job_returns_that_job(services: Services) -> None:
    """The API dies after creating the job, while it sends the job's message (the broker is frozen)."""
    workdir = services.workdir / "api-crash-after-create"
    broker_proc, broker_url = start_redis(workdir, persist=False)
    env = base_env(
        services,
        "local",
        KARLOQ_BROKER_URL=broker_url,
        KARLOQ_IDEMPOTENCY_LEASE_SECONDS=LEASE,
        KARLOQ_DISPATCH_CONFIRM_SECONDS="2",
    )
    stack = AppStack(workdir, env).start(workers=0)
    headers = {"Idempotency-Key": "order-after-create"}
    try:
        broker_proc.pause()
        with ThreadPoolExecutor(1) as pool, stack.redis() as client:
            pending = pool.submit(lambda: submit(stack, BODY, headers=headers))
            wait_until(lambda: len(_jobs(client)) == 1, timeout=30, what="the job to be created")
            assert stack.api is not None
            stack.api.kill()
            with pytest.raises(httpx.HTTPError):
                pending.result()
        broker_proc.resume()
        caller = _restart_api(stack)
        time.sleep(float(LEASE))  # long past the claim's lease: a claim alone would be gone by now

        again = submit(caller, BODY, headers=headers)
        assert again.status_code == 202, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        job_id = again.json()["id"]
        with stack.redis() as client:
            assert _jobs(client) == [f"karloq:job:{job_id}"]
        stack.add_worker()  # its message was never sent: the first deadline dispatches it
        assert wait_until_terminal(caller, job_id, timeout=60)["status"] == "succeeded"
        assert sim_stats(services.sim_url)["calls"] == {"t2i": 1}
    finally:
        broker_proc.resume()
        stack.stop()
        broker_proc.stop()


class _ImageServer(http.server.BaseHTTPRequestHandler):
    """Serves a PNG; while ``slow`` is set, never gets round to answering (within the test)."""

    slow = True

    def do_GET(self) -> None:
        if type(self).slow:
            time.sleep(20)
            self.send_error(504)
            return
        data = image_bytes(512, 512)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def image_server() -> Iterator[tuple[str, type[_ImageServer]]]:
    handler = type("Handler", (_ImageServer,), {"slow": True})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/photo.png", handler
    server.shutdown()
    server.server_close()


def test_a_retry_after_the_api_died_before_making_the_job_runs_once_the_claim_lapsed(
    services: Services, image_server: tuple[str, type[_ImageServer]]
) -> None:
    """The API dies while it fetches a slow input image, before any job exists."""
    url, handler = image_server
    env = base_env(
        services,
        "local",
        KARLOQ_IDEMPOTENCY_LEASE_SECONDS=LEASE,
        KARLOQ_INPUT_URL_ALLOW_HTTP="true",
        KARLOQ_INPUT_URL_ALLOW_NETWORKS="127.0.0.0/8",
        KARLOQ_INPUT_FETCH_TIMEOUT_SECONDS="30",
    )
    stack = AppStack(services.workdir / "api-crash-before-create", env).start(workers=1)
    headers = {"Idempotency-Key": "order-before-create"}
    body = {"kind": "variation", "input": {"image_url": url}}
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(lambda: submit(stack, body, headers=headers))
            time.sleep(1.5)  # the API is fetching the image
            assert stack.api is not None
            stack.api.kill()
            with pytest.raises(httpx.HTTPError):
                pending.result()
        caller = _restart_api(stack)
        with stack.redis() as client:
            assert _jobs(client) == []
        handler.slow = False
        time.sleep(float(LEASE))  # the dead request's claim lapses

        retried = submit(caller, body, headers=headers)
        assert retried.status_code == 202, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        assert submit(caller, body, headers=headers).json()["id"] == retried.json()["id"]
        assert wait_until_terminal(caller, retried.json()["id"], timeout=60)["status"] == "succeeded"
        with stack.redis() as client:
            assert len(_jobs(client)) == 1
    finally:
        stack.stop()
