"""The guarded link fetcher: checked and pinned like the guarded client, no redirects followed, connections
kept alive across fetches, httpcore's failures raised as httpx's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from karlo_core.errors import BlockedDestination
from karlo_core.guarded_fetch import GuardedFetcher
from karlo_core.netguard import NetGuard, parse_networks

BODY = bytes(range(256)) * 4096  # 1 MiB
TIMEOUT = httpx.Timeout(5.0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, int]] = []

    def do_GET(self) -> None:
        _Handler.seen.append((self.path, self.headers["Host"], self.client_address[1]))
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/secret")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def _local(table: dict[str, list[str]] | None = None) -> NetGuard:
    names = table or {}
    return NetGuard(
        allow_networks=parse_networks(["127.0.0.0/8"]),
        allow_http=True,
        resolver=lambda host, port: names.get(host, [host]),
    )


def _read(fetcher: GuardedFetcher, url: str) -> tuple[int, bytes]:
    with fetcher.stream(url) as response:
        return response.status_code, b"".join(response.iter_bytes(256 * 1024))


def test_a_link_is_fetched_from_the_checked_address_with_its_name_as_host(server: int) -> None:
    fetcher = GuardedFetcher(_local({"images.example": ["127.0.0.1"]}), timeout=TIMEOUT)
    assert _read(fetcher, f"http://images.example:{server}/a.png?sig=1") == (200, BODY)
    assert _Handler.seen[0][:2] == ("/a.png?sig=1", f"images.example:{server}")
    fetcher.close()


@pytest.mark.parametrize(
    ("link", "path"),
    [
        ("/a.png?sig=a%2Fb#part", "/a.png?sig=a%2Fb"),
        ("", "/"),
        ("/an image/ü.png?q=ä b", "/an%20image/%C3%BC.png?q=%C3%A4%20b"),
    ],
)
def test_the_request_target_is_the_links_path_and_query_encoded(server: int, link: str, path: str) -> None:
    fetcher = GuardedFetcher(_local({"images.example": ["127.0.0.1"]}), timeout=TIMEOUT)
    assert _read(fetcher, f"http://Images.Example:{server}{link}")[0] == 200
    assert _Handler.seen[0][:2] == (path, f"images.example:{server}")
    assert path == httpx.URL(f"http://images.example{link}").raw_path.decode()  # as httpx would send it
    fetcher.close()


def test_the_body_comes_in_pieces_of_the_asked_size(server: int) -> None:
    fetcher = GuardedFetcher(_local(), timeout=TIMEOUT)
    with fetcher.stream(f"http://127.0.0.1:{server}/a.png") as response:
        sizes = [len(chunk) for chunk in response.iter_bytes(256 * 1024)]
    assert sum(sizes) == len(BODY) and all(size >= 256 * 1024 for size in sizes[:-1])
    fetcher.close()


def test_connections_are_kept_alive_across_fetches(server: int) -> None:
    fetcher = GuardedFetcher(_local(), timeout=TIMEOUT)
    for _ in range(3):
        assert _read(fetcher, f"http://127.0.0.1:{server}/a.png")[0] == 200
    assert len({port for _, _, port in _Handler.seen}) == 1
    fetcher.close()


def test_a_redirect_is_answered_not_followed(server: int) -> None:
    fetcher = GuardedFetcher(_local(), timeout=TIMEOUT)
    assert _read(fetcher, f"http://127.0.0.1:{server}/moved")[0] == 302
    assert [path for path, _, _ in _Handler.seen] == ["/moved"]
    fetcher.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://trap.example/x",
        "ftp://127.0.0.1/x",
        "http://user:pw@127.0.0.1/x",
    ],
)
def test_a_link_the_guard_refuses_is_never_connected_to(url: str) -> None:
    fetcher = GuardedFetcher(_local({"trap.example": ["10.1.2.3"]}), timeout=TIMEOUT)
    with pytest.raises(BlockedDestination), fetcher.stream(url):
        pass
    fetcher.close()


def test_public_space_only_without_an_allow_list() -> None:
    fetcher = GuardedFetcher(NetGuard(allow_http=True), timeout=TIMEOUT)
    with pytest.raises(BlockedDestination), fetcher.stream("http://127.0.0.1:9/x"):
        pass


def test_a_connection_failure_is_an_httpx_connect_error() -> None:
    fetcher = GuardedFetcher(_local(), timeout=TIMEOUT)
    with pytest.raises(httpx.ConnectError), fetcher.stream("http://127.0.0.1:9/x"):
        pass
