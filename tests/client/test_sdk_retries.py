"""Retries over the real wire: a proxy in front of the API loses the first answer and says 503 instead."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from karlo_devstack.processes import free_port
from karloq import Client, ConnectionFailedError, GenerateInput, RetryPolicy, ServiceUnavailableError
from support.stacks import AppStack

HOP_HEADERS = {"connection", "transfer-encoding", "content-length", "content-encoding", "keep-alive"}


@dataclass
class LossyProxy:
    """Forwards to the API; the first ``fail`` POSTs reach the API but their answer is replaced by a 503."""

    upstream: str
    fail: int = 1
    keys: list[str | None] = field(default_factory=list)
    forwarded_answers: list[bytes] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
                answer = httpx.request(method, proxy.upstream + self.path, content=body, headers=headers, timeout=30)
                if method == "POST":
                    proxy.keys.append(self.headers.get("Idempotency-Key"))
                    proxy.forwarded_answers.append(answer.content)
                if method == "POST" and proxy.fail > 0:
                    proxy.fail -= 1
                    lost = b'{"type":"/problems/unavailable","title":"Bad gateway day","status":503}'
                    self._reply(503, lost, {"Content-Type": "application/problem+json", "Retry-After": "0"})
                    return
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
                self._reply(answer.status_code, answer.content, kept)

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def lossy(stack: AppStack) -> Iterator[LossyProxy]:
    proxy = LossyProxy(stack.api_url)
    yield proxy
    proxy.stop()


def test_a_lost_answer_is_retried_with_the_same_key_and_gives_the_same_job(
    stack: AppStack, lossy: LossyProxy, client: Client
) -> None:
    with Client(lossy.start(), stack.tenant.api_key) as through_proxy:
        job = through_proxy.jobs.create(GenerateInput(prompt="a lost letter", width=384, height=384))
    assert len(lossy.keys) == 2 and lossy.keys[0] == lossy.keys[1] and lossy.keys[0]
    assert httpx.Response(202, content=lossy.forwarded_answers[0]).json()["id"] == job.id
    assert [j.id for j in client.jobs.list()] == [job.id]


def test_retries_are_bounded(stack: AppStack, lossy: LossyProxy) -> None:
    lossy.fail = 10
    with Client(lossy.start(), stack.tenant.api_key, retry=RetryPolicy(max_retries=2)) as through_proxy:
        with pytest.raises(ServiceUnavailableError) as caught:
            through_proxy.jobs.create(GenerateInput(prompt="a lost parcel", width=384, height=384))
    assert caught.value.status == 503 and caught.value.title == "Bad gateway day"
    assert len(lossy.keys) == 3 and len(set(lossy.keys)) == 1


def test_an_unreachable_service_raises_connection_failed() -> None:
    retry = RetryPolicy(max_retries=1, backoff_seconds=0.01)
    with Client(f"http://127.0.0.1:{free_port()}", "kq_none", retry=retry) as nowhere:
        with pytest.raises(ConnectionFailedError, match="cannot reach"):
            nowhere.quota()
