"""Guarded GETs of links a worker fetches in bulk (the images Karlo answers with), straight over httpcore.

The same guarantees as :func:`karlo_core.netguard.guarded_client`: each link is checked by a
:class:`~karlo_core.netguard.NetGuard` (scheme, no credentials, every address the name resolves to allowed),
the connection goes to a checked address with the Host header and TLS SNI keeping the name, and redirects are
never followed (httpcore has none to follow). Connections are pooled and kept alive across fetches, so one
fetcher serves all the threads of a process.

It skips what an ``httpx.Client`` does for every request and a link fetch has no use for (see
:mod:`karlo_core.pooled_http`, whose pool and error mapping it uses): those were most of the CPU of a fetch from a
local Karlo. httpcore's failures are raised as httpx's errors of the same name, so callers handle one kind.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpcore
import httpx

from karlo_core.netguard import NetGuard
from karlo_core.pooled_http import HTTPCORE_ERRORS, httpx_error, make_pool, timeouts


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
        self._timeouts = timeouts(timeout)
        self._pool = make_pool(max_connections=max_connections)

    @contextmanager
    def stream(self, url: str) -> Iterator[Fetched]:
        """GET ``url``: BlockedDestination when the guard refuses it, an ``httpx.TransportError`` when the
        connection fails; the body is read inside the block."""
        host, port, addresses = self._guard.check_url(url)
        scheme, netloc, target = _request_parts(url)
        pinned = httpcore.URL(scheme=scheme, host=str(addresses[0]).encode(), port=port, target=target)
        extensions: dict[str, object] = {"timeout": self._timeouts}
        if scheme == b"https":
            extensions["sni_hostname"] = host
        try:
            with self._pool.stream(b"GET", pinned, headers=[(b"Host", netloc)], extensions=extensions) as response:
                yield Fetched(response)
        except HTTPCORE_ERRORS as exc:
            raise httpx_error(exc) from exc

    def close(self) -> None:
        self._pool.close()


#: The characters a URL may carry as they are (RFC 3986's unreserved and reserved ones, and ``%``).
_PLAIN = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _request_parts(url: str) -> tuple[bytes, bytes, bytes]:
    """Scheme, Host header and request target of a checked ``url``. A plain link (the kind Karlo gives) is
    taken from the split the guard made (``urlsplit`` remembers it); anything else is parsed by httpx, which
    percent-encodes what needs it and encodes an international name."""
    if _PLAIN.issuperset(url):
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
        netloc = netloc.removesuffix(_DEFAULT_PORTS.get(scheme, ""))
        return scheme.encode(), netloc.encode(), target.encode()
    parsed = httpx.URL(url)
    return parsed.raw_scheme, parsed.netloc, parsed.raw_path
