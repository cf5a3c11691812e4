"""Guarded GETs of links a worker fetches in bulk (the images Karlo answers with), straight over httpcore.

The same guarantees as :func:`karlo_core.netguard.guarded_client`: each link is checked by a
:class:`~karlo_core.netguard.NetGuard` (scheme, no credentials, every address the name resolves to allowed),
the connection goes to a checked address with the Host header and TLS SNI keeping the name, and redirects are
never followed (httpcore has none to follow). Connections are pooled and kept alive across fetches, so one
fetcher serves all the threads of a process.

It skips what an ``httpx.Client`` does for every request and a link fetch has no use for: merging a base URL,
default headers and a cookie jar, auth and redirect handling, and parsing the URL again after pinning it.
Those were most of the CPU of a fetch from a local Karlo. httpcore's failures are raised as httpx's errors of
the same name, so callers handle one kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import httpx

from karlo_core.netguard import NetGuard

#: httpcore's failures and the httpx errors they are raised as (the most specific first).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
_HTTPCORE_ERRORS = tuple(error for error, _ in _ERRORS)


class Fetched:
    """A response being read: its status, and its body in pieces."""

    def __init__(self, response: httpcore.Response) -> None:
        self.status_code = response.status
        self._response = response

    def iter_bytes(self, chunk_bytes: int) -> Iterator[bytes]:
        """The body in pieces of about ``chunk_bytes`` (joined from what the connection gives, which may be
        smaller), so each write of the caller's is a large one."""
        pending: list[bytes] = []
        size = 0
        for piece in self._response.iter_stream():
            pending.append(piece)
            size += len(piece)
            if size >= chunk_bytes:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


class GuardedFetcher:
    """GETs of guarded links over one pool of kept-alive connections; safe to share between threads."""

    def __init__(self, guard: NetGuard, *, timeout: httpx.Timeout, max_connections: int = 100) -> None:
        self._guard = guard
        self._timeouts = {
            "connect": timeout.connect,
            "read": timeout.read,
            "write": timeout.write,
            "pool": timeout.pool,
        }
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
        )

    @contextmanager
    def stream(self, url: str) -> Iterator[Fetched]:
        """GET ``url``: BlockedDestination when the guard refuses it, an ``httpx.TransportError`` when the
        connection fails; the body is read inside the block."""
        host, port, addresses = self._guard.check_url(url)
        parts = httpx.URL(url)
        pinned = httpcore.URL(
            scheme=parts.raw_scheme, host=str(addresses[0]).encode(), port=port, target=parts.raw_path
        )
        extensions: dict[str, object] = {"timeout": self._timeouts}
        if parts.scheme == "https":
            extensions["sni_hostname"] = host
        try:
            with self._pool.stream(
                b"GET", pinned, headers=[(b"Host", parts.netloc)], extensions=extensions
            ) as response:
                yield Fetched(response)
        except _HTTPCORE_ERRORS as exc:
            raise next(ours for theirs, ours in _ERRORS if isinstance(exc, theirs))(str(exc)) from exc

    def close(self) -> None:
        self._pool.close()
