"""An HTTP/1.1 load generator on asyncio: keep-alive connections, each sending one request after another.

Requests are built once, as bytes, and answers are read just far enough to find their status and length, so
the generator spends as little of the machine's CPU as it can (it shares the machine with what it measures).
Every request's latency is kept, for percentiles.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Load:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def post_request(url: str, body: Any, headers: dict[str, str]) -> bytes:
    """A keep-alive ``POST`` of ``body`` as JSON to ``url``, as bytes."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    lines = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _connection(host: str, port: int, request: bytes, stop_at: float, load: Load) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            at = lowered.find(b"content-length:")
            length = int(lowered[at + 15 : lowered.find(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - started)
            load.statuses[int(head[9:12])] += 1
    finally:
        writer.close()


def run(url: str, request: bytes, *, connections: int, seconds: float) -> Load:
    """Send ``request`` over ``connections`` connections at once for ``seconds``."""
    parts = urlsplit(url)
    load = Load()

    async def main() -> None:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(
                _connection(parts.hostname or "127.0.0.1", parts.port or 80, request, stop_at, load)
                for _ in range(connections)
            )
        )
        load.seconds = time.perf_counter() - started

    asyncio.run(main())
    return load


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
