"""The Karlo client over its own httpcore pool, against a local HTTP server: what it sends, how it reads a
(compressed) answer, and each failure mapped as the job needs it (the simulator's cases are in
tests/e2e/test_upstream_errors.py)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import pytest
from pydantic import SecretStr

from karlo_core.errors import UpstreamAuthError, UpstreamQuotaExceeded, UpstreamRejected, UpstreamUnavailable
from karlo_core.karlo.client import KarloClient
from karlo_core.karlo.wire import T2I_PATH
from karlo_core.pooled_http import make_pool

ANSWER = {"id": "req-1", "model_version": "v2.0", "images": [{"image": "https://cdn.example/a.png", "seed": 7}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: What the next answers are: (status, body bytes, extra headers); the last one repeats.
    answers: list[tuple[int, bytes, dict[str, str]]] = []
    seen: list[tuple[str, dict[str, str], Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Handler.seen.append((self.path, dict(self.headers), json.loads(body)))
        status, content, headers = _Handler.answers.pop(0) if len(_Handler.answers) > 1 else _Handler.answers[0]
        if status == 0:  # hang up without answering
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    _Handler.answers = [(200, json.dumps(ANSWER).encode(), {"Content-Type": "application/json"})]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


_POOLS: list[httpcore.ConnectionPool] = []


@pytest.fixture(autouse=True)
def _close_pools() -> Iterator[None]:
    yield
    while _POOLS:
        _POOLS.pop().close()


def _client(base_url: str, *, read: float = 5.0) -> KarloClient:
    _POOLS.append(make_pool(max_connections=4))
    timeout = httpx.Timeout(5.0, read=read)
    return KarloClient(_POOLS[-1], base_url=base_url, api_key=SecretStr("k3y"), timeout=timeout)


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    _Handler.answers = [(status, content, headers or {})]


def test_posts_the_body_as_json_with_the_key(server: str) -> None:
    result = _client(server).infer(T2I_PATH, {"prompt": "café", "samples": 1})
    path, headers, body = _Handler.seen[0]
    assert path == T2I_PATH
    assert headers["Authorization"] == "KakaoAK k3y"
    assert headers["Content-Type"] == "application/json"
    assert headers["Host"] == server.removeprefix("http://").rstrip("/")
    assert body == {"prompt": "café", "samples": 1}
    assert result.request_id == "req-1" and result.model_version == "v2.0"
    assert result.images[0].url == "https://cdn.example/a.png" and result.images[0].seed == 7


def test_connections_are_kept_alive_across_calls(server: str) -> None:
    client = _client(server)
    for _ in range(3):
        client.infer(T2I_PATH, {"prompt": "p"})
    assert len(_Handler.seen) == 3


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_answer_is_decoded(server: str, coding: str) -> None:
    raw = json.dumps(ANSWER).encode()
    if coding == "gzip":
        content = gzip.compress(raw)
    elif coding == "deflate":
        content = zlib.compress(raw)
    else:
        squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        content = squeeze.compress(raw) + squeeze.flush()
    _answer(200, content, {"Content-Encoding": coding.removeprefix("raw-")})
    assert _client(server).infer(T2I_PATH, {"prompt": "p"}).request_id == "req-1"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, {"code": -10, "msg": "quota"}, UpstreamQuotaExceeded),
        (401, {"code": -401, "msg": "bad key"}, UpstreamAuthError),
        (403, b"", UpstreamAuthError),
        (400, {"code": -2, "msg": "bad prompt"}, UpstreamRejected),
        (502, b"<html>bad gateway</html>", UpstreamUnavailable),
        (200, b"not json", UpstreamUnavailable),
        (200, {"images": []}, UpstreamUnavailable),
        (200, b"\x1f\x8b broken gzip", UpstreamUnavailable),
    ],
)
def test_error_answers_are_classified(server: str, status: int, body: Any, error: type[Exception]) -> None:
    headers = {"Content-Encoding": "gzip"} if isinstance(body, bytes) and body.startswith(b"\x1f\x8b") else {}
    _answer(status, body, headers)
    with pytest.raises(error):
        _client(server).infer(T2I_PATH, {"prompt": "p"})


def test_a_refused_connection_was_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamUnavailable, match="cannot connect") as raised:
        _client(f"http://127.0.0.1:{port}").infer(T2I_PATH, {"prompt": "p"})
    assert raised.value.sent is False


def test_a_hang_up_is_a_transport_error_that_may_have_been_sent(server: str) -> None:
    _answer(0, b"")
    with pytest.raises(UpstreamUnavailable, match="transport error") as raised:
        _client(server).infer(T2I_PATH, {"prompt": "p"})
    assert raised.value.sent is True


def test_a_slow_answer_times_out() -> None:
    with socket.socket() as listener:  # accepts (the kernel's backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            _client(f"http://127.0.0.1:{port}", read=0.2).infer(T2I_PATH, {"prompt": "p"})
