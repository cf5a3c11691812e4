"""A lean asyncio Redis client for the API's hottest call, the accept script's ``EVALSHA``: auto-pipelined on one
connection.

Every command issued during one turn of the event loop is written in one write, and the replies, which Redis
sends in order, are matched to their callers in that order by a hiredis reader fed from an asyncio protocol (as
ioredis's ``enableAutoPipelining`` does). Under load, one read and one write of the redis-server then serve many
scripts, and a call costs the API a packed command and a future instead of redis-py's pool checkout, command
machinery and a socket write of its own (docs/benchmarks.md, "Accepting a job"). Everything else stays on
redis-py.

What it keeps of redis-py's client (``karlo_core.redis_client``): the same URL (``redis://``, ``rediss://``,
``unix://``, with user, password and database), string replies (``decode_responses``), a 5 s connect timeout and a
10 s reply timeout, and the same exceptions, so the API answers them as before (a 503 ``store-unavailable``):
``redis.exceptions.ConnectionError`` when the connection cannot be made or is lost (every call in flight on it
fails; the next call connects afresh), ``redis.exceptions.TimeoutError`` when a reply is overdue (the connection
is then closed, as its later replies could no longer be matched, and every call in flight on it fails), and
redis-py's exception for an error reply (``NoScriptError`` for an unknown script, ``BusyLoadingError`` while Redis
loads its data, ``ResponseError`` for a script's own error), which fails only its own call.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Seconds to make a connection (redis-py's ``socket_connect_timeout`` in ``karlo_core.redis_client``).
CONNECT_TIMEOUT = 5.0
#: Seconds a reply may take (redis-py's ``socket_timeout`` there).
REPLY_TIMEOUT = 10.0
#: How often the oldest call in flight is checked against :data:`REPLY_TIMEOUT`, in seconds.
TICK = 0.5
#: Seconds :meth:`PipelinedRedis.aclose` waits for a closed connection's transport to let go of its socket (a TLS
#: connection first exchanges its closing messages); past it the transport is aborted.
CLOSE_TIMEOUT = 2.0

Arg = str | bytes | int | float


def _error(message: str) -> Exception:
    """An error reply as the exception redis-py raises for it: ``NoScriptError`` for ``NOSCRIPT``,
    ``BusyLoadingError`` (a ``ConnectionError``) for a Redis still loading its data, ``ResponseError`` for a
    script's own error, and so on (redis-py's own table)."""
    error: Exception = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return error


class _Link(asyncio.Protocol):
    """One connection: commands queued in a loop turn are written together, and each reply resolves the oldest
    waiting call."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_closed: Any) -> None:
        self.loop = loop
        self._on_closed = on_closed
        self._reader = hiredis.Reader(encoding="utf-8", replyError=_error)
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self._lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; its reply (or error) resolves the returned future."""
        if self.closed:
            raise RedisConnectionError("Connection to Redis closed")
        future: asyncio.Future[Any] = self.loop.create_future()
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(packed)
        self._waiting.append((future, self.loop.time()))
        if self._timer is None:
            self._timer = self.loop.call_later(TICK, self._check)
        return future

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self._transport is not None and not self.closed:
            self._transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self.close(RedisConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self.close(RedisConnectionError("Redis sent a reply nothing asked for"))
                return
            future, _ = waiting.popleft()
            if not future.done():
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(None)
        self.close(RedisConnectionError(f"Connection to Redis lost: {exc}" if exc else "Connection to Redis lost"))

    def _check(self) -> None:
        self._timer = None
        if self.closed or not self._waiting:
            return
        if self.loop.time() - self._waiting[0][1] > REPLY_TIMEOUT:
            self.close(RedisTimeoutError("Timeout reading from Redis"))
            return
        self._timer = self.loop.call_later(TICK, self._check)

    def close(self, error: Exception) -> None:
        """Close the connection, failing every call in flight on it with ``error``."""
        if self.closed:
            return
        self.closed = True
        self._on_closed(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
        self._out.clear()
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(type(error)(*error.args))  # one each: a raised exception keeps its traceback
                future.exception()  # a caller already gone (cancelled) must not log it as never retrieved

    async def wait_lost(self, timeout: float) -> None:
        """Wait until the transport has let go of its socket (after :meth:`close`), aborting it after ``timeout``
        seconds. A TLS transport's ``close`` only starts its closing exchange; an event loop ended before that
        finishes would leave the socket open, to be reported unclosed when collected."""
        if self._transport is None or self._lost.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), timeout)
        except TimeoutError:
            self._transport.abort()  # the socket is closed on the loop's next turn
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._lost), timeout)


class PipelinedRedis:
    """Commands auto-pipelined on one connection to the Redis at ``url``, made on first use and afresh after it
    is lost. Replies are strings (bulk replies decoded as UTF-8), integers, lists or None, as redis-py's
    ``decode_responses`` client gives them."""

    def __init__(self, url: str) -> None:
        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        self._host: str = options.get("host", "localhost")
        self._port: int = int(options.get("port", 6379))
        self._path: str | None = options.get("path")
        tls = isinstance(connection_class := options.get("connection_class"), type) and issubclass(
            connection_class, SSLConnection
        )
        self._tls: ssl.SSLContext | None = _tls_context(options) if tls else None
        self._hello: list[bytes] = []
        password, username = options.get("password"), options.get("username")
        if password:
            self._hello.append(_pack(("AUTH", username, password) if username else ("AUTH", password)))
        if int(options.get("db") or 0):
            self._hello.append(_pack(("SELECT", int(options["db"]))))
        self._link: _Link | None = None
        self._connecting: asyncio.Future[_Link] | None = None

    async def execute(self, *args: Arg) -> Any:
        """Send one command; its reply, or the exceptions in this module's docstring."""
        packed = _pack(args)
        link = self._link
        if link is None or link.loop is not asyncio.get_running_loop():
            # none yet, or one made on another event loop (a connection serves the loop it was made on)
            self._link = None
            link = await self._connect()
        return await link.send(packed)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg) -> Any:
        return await self.execute("EVALSHA", sha, numkeys, *keys_and_args)

    async def script_load(self, script: str) -> str:
        sha: str = await self.execute("SCRIPT", "LOAD", script)
        return sha

    async def aclose(self) -> None:
        """Close the connection (calls in flight fail) and wait until its socket is closed, at most
        :data:`CLOSE_TIMEOUT` seconds; a later call connects afresh. A connection made on another event loop is
        closed without waiting (its loop may no longer run)."""
        link = self._link
        if link is not None:
            link.close(RedisConnectionError("Connection to Redis closed"))
            if link.loop is asyncio.get_running_loop():
                await link.wait_lost(CLOSE_TIMEOUT)

    async def _connect(self) -> _Link:
        """The connection, made once for every caller waiting on it."""
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_future()
            try:
                link = await asyncio.wait_for(self._open(), CONNECT_TIMEOUT)
            except BaseException as exc:
                error = _connect_error(exc)
                self._connecting.set_exception(error)
                self._connecting.exception()
                self._connecting = None
                if isinstance(exc, Exception):
                    raise error from exc
                raise
            self._link = link
            self._connecting.set_result(link)
            self._connecting = None
            return link
        return await asyncio.shield(self._connecting)

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        link = _Link(loop, self._forget)
        if self._path is not None:
            await loop.create_unix_connection(lambda: link, self._path)
        else:
            await loop.create_connection(
                lambda: link, self._host, self._port, ssl=self._tls, server_hostname=self._host if self._tls else None
            )
        try:
            for reply in await asyncio.gather(*(link.send(packed) for packed in self._hello)):
                if isinstance(reply, Exception):
                    raise reply
        except BaseException:
            link.close(RedisConnectionError("Connection to Redis closed"))
            raise
        return link

    def _forget(self, link: _Link) -> None:
        if self._link is link:
            self._link = None


def _pack(args: tuple[Arg, ...]) -> bytes:
    """One command in Redis's protocol, packed by hiredis."""
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]
    return packed


def _connect_error(exc: BaseException) -> Exception:
    """What the callers waiting on a connection that could not be made are told."""
    if isinstance(exc, asyncio.TimeoutError | RedisTimeoutError):
        return RedisTimeoutError("Timeout connecting to Redis")
    if isinstance(exc, RedisConnectionError):
        return exc
    return RedisConnectionError(f"Error connecting to Redis: {exc!r}")


def _tls_context(options: dict[str, Any]) -> ssl.SSLContext:
    """A TLS context for a ``rediss://`` URL: certificates verified unless ``ssl_cert_reqs=none``, against
    ``ssl_ca_certs`` when given."""
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", "cert_none"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
