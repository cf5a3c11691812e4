"""The auto-pipelined client of the accept script's calls (``karlo_core.redis_pipe``), on a real redis-server:
the commands of one loop turn go out in one write and each caller gets its own reply; an error reply fails only
its call; a lost or stalled connection fails the calls in flight with redis-py's own exceptions and the next call
connects afresh; the URL's password and database are used."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import uvloop
from redis.exceptions import BusyLoadingError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from karlo_core import redis_pipe
from karlo_core.redis_pipe import PipelinedRedis
from karlo_devstack.processes import ManagedProcess, free_port
from karlo_devstack.services import redis_server_binary, start_redis


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    proc, url = start_redis(tmp_path, persist=False)
    yield url
    proc.stop()


#: The event loops it runs on: asyncio's own (tests, tools) and uvloop's (the API under uvicorn).
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def _run(url: str, check: Callable[[PipelinedRedis], Awaitable[None]], loop: str = "asyncio") -> None:
    async def main() -> None:
        client = PipelinedRedis(url)
        try:
            await check(client)
        finally:
            await client.aclose()

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_calls_of_one_loop_turn_go_out_in_one_write_and_each_gets_its_own_reply(url: str, loop: str) -> None:
    writes: list[bytes] = []

    async def check(client: PipelinedRedis) -> None:
        assert await client.execute("PING") == "PONG"  # connected
        link: Any = client._link
        transport = link._transport
        link._transport = _Counted(transport, writes)
        replies = await asyncio.gather(*(client.execute("ECHO", f"call {i}") for i in range(100)))
        assert replies == [f"call {i}" for i in range(100)]
        assert len(writes) == 1

    _run(url, check, loop)


class _Counted:
    """A transport that notes what is written through it."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(data)
        self._transport.write(data)

    def close(self) -> None:
        self._transport.close()


def test_a_client_used_from_another_event_loop_connects_again_on_that_loop(url: str) -> None:
    client = PipelinedRedis(url)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert first.run_until_complete(client.execute("PING")) == "PONG"
        made_on_first: Any = client._link
        assert second.run_until_complete(client.execute("PING")) == "PONG"
        assert client._link is not made_on_first
        second.run_until_complete(client.aclose())
        made_on_first.close(RedisConnectionError("done"))
        first.run_until_complete(asyncio.sleep(0))  # the first loop closes its connection
    finally:
        first.close()
        second.close()


def test_replies_keep_their_types(url: str) -> None:
    async def check(client: PipelinedRedis) -> None:
        assert await client.execute("SET", "k", "välue") == "OK"
        assert await client.execute("GET", "k") == "välue"
        assert await client.execute("GET", "missing") is None
        assert await client.execute("INCRBY", "n", 3) == 3
        assert await client.execute("EVAL", "return {1, 'two', {3}}", 0) == [1, "two", [3]]

    _run(url, check)


def test_an_error_reply_fails_only_its_own_call(url: str) -> None:
    async def check(client: PipelinedRedis) -> None:
        outcomes = await asyncio.gather(
            client.execute("SET", "a", "1"),
            client.execute("INCR", "a", "too", "many"),
            client.evalsha("0" * 40, 0),
            client.execute("GET", "a"),
            return_exceptions=True,
        )
        assert outcomes[0] == "OK"
        assert isinstance(outcomes[1], ResponseError)
        assert isinstance(outcomes[2], NoScriptError)
        assert outcomes[3] == "1"

    _run(url, check)


def test_a_redis_still_loading_its_data_is_a_connection_error_as_redis_py_gives_it(url: str) -> None:
    async def check(client: PipelinedRedis) -> None:
        with pytest.raises(BusyLoadingError):  # what the API answers with a 503, as for a lost connection
            await client.execute("EVAL", "return redis.error_reply('LOADING Redis is loading the dataset')", 0)
        assert issubclass(BusyLoadingError, RedisConnectionError)
        assert await client.execute("PING") == "PONG"  # the connection is kept

    _run(url, check)


def test_an_unknown_script_is_loaded_and_then_runs(url: str) -> None:
    script = "return ARGV[1] .. KEYS[1]"

    async def check(client: PipelinedRedis) -> None:
        sha = await client.script_load(script)
        assert await client.evalsha(sha, 1, "key", "arg ") == "arg key"
        await client.execute("SCRIPT", "FLUSH")
        with pytest.raises(NoScriptError):
            await client.evalsha(sha, 1, "key", "arg ")
        assert await client.script_load(script) == sha

    _run(url, check)


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_lost_connection_fails_the_calls_in_flight_and_the_next_call_connects_afresh(url: str, loop: str) -> None:
    other = redis.Redis.from_url(url, decode_responses=True)

    async def check(client: PipelinedRedis) -> None:
        await client.execute("CLIENT", "SETNAME", "pipelined")
        blocked = asyncio.ensure_future(client.execute("BLPOP", "never", 0))
        behind = asyncio.ensure_future(client.execute("PING"))
        while not any(c["name"] == "pipelined" and c["cmd"] == "blpop" for c in other.client_list()):
            await asyncio.sleep(0.01)
        other.client_kill_filter(skipme=True, _type="normal")
        for call in (blocked, behind):
            with pytest.raises(RedisConnectionError):
                await call
        assert await client.execute("PING") == "PONG"

    try:
        _run(url, check, loop)
    finally:
        other.close()


def test_an_overdue_reply_fails_the_calls_in_flight_with_a_timeout(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_pipe, "REPLY_TIMEOUT", 0.2)
    monkeypatch.setattr(redis_pipe, "TICK", 0.05)

    async def check(client: PipelinedRedis) -> None:
        outcomes = await asyncio.gather(
            client.execute("BLPOP", "never", 0), client.execute("PING"), return_exceptions=True
        )
        assert [type(o) for o in outcomes] == [RedisTimeoutError, RedisTimeoutError]
        assert await client.execute("PING") == "PONG"

    _run(url, check)


def test_aclose_returns_once_the_socket_is_closed_and_aborts_a_close_that_hangs(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_pipe, "CLOSE_TIMEOUT", 0.2)

    async def main() -> None:
        client = PipelinedRedis(url)
        assert await client.execute("PING") == "PONG"
        sock = client._link._transport.get_extra_info("socket")  # type: ignore[union-attr]
        await client.aclose()
        assert sock.fileno() == -1

        assert await client.execute("PING") == "PONG"  # connects afresh
        link: Any = client._link
        sock = link._transport.get_extra_info("socket")
        link._transport = _HangingClose(link._transport)  # as a TLS peer that never answers the closing exchange
        await client.aclose()
        assert link._transport.aborted
        assert sock.fileno() == -1

    asyncio.run(main())


class _HangingClose:
    """A transport whose ``close`` never finishes; ``abort`` closes it."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.aborted = False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True
        self._transport.abort()


async def _refused(client: PipelinedRedis) -> None:
    """The call fails as redis-py fails one it cannot connect for (or is refused the login of)."""
    with pytest.raises(RedisConnectionError):
        await client.execute("PING")


def test_an_unreachable_server_is_a_connection_error() -> None:
    _run(f"redis://127.0.0.1:{free_port()}/0", _refused)


def test_the_urls_password_and_database_are_used(url: str) -> None:
    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.config_set("requirepass", "s3cret")
    base = url.rsplit("/", 1)[0].replace("redis://", "redis://:s3cret@")
    try:

        async def check(client: PipelinedRedis) -> None:
            assert await client.execute("SET", "where", "db 3") == "OK"

        _run(f"{base}/3", check)
        db3 = redis.Redis.from_url(f"{base}/3", decode_responses=True)
        assert db3.get("where") == "db 3"
        db3.close()

        _run(url.replace("redis://", "redis://:wrong@"), _refused)
    finally:
        admin.close()


def test_an_acl_users_name_and_password_are_used(url: str) -> None:
    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.acl_setuser("karloq", enabled=True, passwords=["+pa55"], keys=["*"], commands=["+@all"])
    try:

        async def check(client: PipelinedRedis) -> None:
            assert await client.execute("ACL", "WHOAMI") == "karloq"

        _run(url.replace("redis://", "redis://karloq:pa55@"), check)

        _run(url.replace("redis://", "redis://karloq:wrong@"), _refused)
    finally:
        admin.close()


def test_a_unix_socket_url_and_its_database_are_used(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    argv = [redis_server_binary(), "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
    argv += ["--dir", str(tmp_path), "--save", "", "--appendonly", "no"]
    proc = ManagedProcess("redis-unix", argv, log_path=tmp_path / "redis-unix.log").start()
    try:
        proc.wait_ready(socket_path.exists, timeout=15)
        url = f"unix://{socket_path}?db=2"

        async def check(client: PipelinedRedis) -> None:
            assert await client.execute("SET", "where", "db 2 over a socket") == "OK"

        _run(url, check)
        reader = redis.Redis.from_url(url, decode_responses=True)
        assert reader.get("where") == "db 2 over a socket"
        reader.close()
    finally:
        proc.stop()
