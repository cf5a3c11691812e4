"""Local image servers for input-URL tests: each on its own port, answering GET with a PNG, either at once
or one byte every ``interval`` seconds (a server that stalls whoever fetches from it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ImageServers:
    def __init__(self, body: bytes, *, count: int, interval: float = 0.0) -> None:
        self.body = body
        self.count = count
        self.interval = interval
        self.ports: list[int] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/image.png" for port in self.ports]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        servers = [
            self._loop.run_until_complete(asyncio.start_server(self._answer, "127.0.0.1", 0)) for _ in range(self.count)
        ]
        self.ports = [server.sockets[0].getsockname()[1] for server in servers]
        self._ready.set()
        self._loop.run_forever()
        for server in servers:
            server.close()
            self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {len(self.body)}\r\n\r\n"
            writer.write(head.encode())
            if self.interval <= 0:
                writer.write(self.body)
            else:
                for index in range(len(self.body)):
                    writer.write(self.body[index : index + 1])
                    await writer.drain()
                    await asyncio.sleep(self.interval)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def start(self) -> ImageServers:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def cancel_all() -> None:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.call_soon(self._loop.stop)

        self._loop.call_soon_threadsafe(cancel_all)
        self._thread.join(10)


@contextmanager
def image_servers(body: bytes, *, count: int = 1, interval: float = 0.0) -> Iterator[ImageServers]:
    servers = ImageServers(body, count=count, interval=interval).start()
    try:
        yield servers
    finally:
        servers.stop()
