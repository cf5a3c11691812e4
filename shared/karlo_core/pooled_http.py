"""What the worker's lean HTTP clients share: a pool of kept-alive connections straight over httpcore, httpx's
timeouts in httpcore's form, and httpcore's failures raised as httpx's errors of the same name.

Both the Karlo client (:mod:`karlo_core.karlo.client`) and the image-link fetcher (:mod:`karlo_core.guarded_fetch`)
go through httpcore directly: an ``httpx.Client`` spends most of a local call's CPU on what they have no use for
(merging a base URL, default headers and a cookie jar, auth and redirect handling, parsing URLs again). Neither
follows redirects (httpcore has none to follow) nor reads the environment's proxy settings. Callers keep
handling one kind of error, httpx's.
"""

from __future__ import annotations

import httpcore
import httpx

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
HTTPCORE_ERRORS = tuple(error for error, _ in _ERRORS)


def make_pool(*, max_connections: int) -> httpcore.ConnectionPool:
    """A pool safe to share between threads, with httpx's defaults: TLS verified against httpx's context
    (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), up to 20 idle connections kept for 5 s."""
    return httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=max_connections,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
    )


def timeouts(timeout: httpx.Timeout) -> dict[str, float | None]:
    """httpx's timeouts as httpcore's ``timeout`` extension takes them."""
    return {"connect": timeout.connect, "read": timeout.read, "write": timeout.write, "pool": timeout.pool}


def httpx_error(exc: Exception) -> httpx.TransportError:
    """The httpx error of the same name as httpcore's failure ``exc`` (one of :data:`HTTPCORE_ERRORS`), to raise
    from it."""
    return next(ours for theirs, ours in _ERRORS if isinstance(exc, theirs))(str(exc))
