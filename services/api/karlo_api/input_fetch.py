"""Fetching input images from caller-given URLs, on the event loop, so a slow server holds no thread.

Each fetch has one overall deadline (connecting, headers and every byte of the body), its body is refused
past Karlo's 2 MB limit as it streams, and a tenant has a bounded number of fetches in flight in this process;
a request that would exceed it is answered 429 at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping

import httpx

from karlo_core.errors import BlockedDestination, TooManyInputFetches
from karlo_core.image_inputs import InvalidImage
from karlo_core.karlo import rules

#: What a fetch gave: the image's bytes, or why there are none (the message completes "<field> ...").
Fetched = bytes | InvalidImage


class InputFetcher:
    def __init__(self, client: httpx.AsyncClient, *, deadline_seconds: float, per_tenant: int) -> None:
        self._client = client
        self._deadline = deadline_seconds
        self._per_tenant = per_tenant
        self._in_flight: Counter[str] = Counter()

    async def fetch_all(self, tenant: str, urls: Mapping[str, str]) -> dict[str, Fetched]:
        """Fetch every named URL at once; TooManyInputFetches (a 429) when the tenant would have more than its
        share in flight."""
        if not urls:
            return {}
        if self._in_flight[tenant] + len(urls) > self._per_tenant:
            raise TooManyInputFetches(self._per_tenant)
        self._in_flight[tenant] += len(urls)
        try:
            results = await asyncio.gather(*(self._fetch(url) for url in urls.values()))
        finally:
            self._in_flight[tenant] -= len(urls)
            if self._in_flight[tenant] <= 0:
                del self._in_flight[tenant]
        return dict(zip(urls, results, strict=True))

    def in_flight(self, tenant: str) -> int:
        return self._in_flight[tenant]

    async def _fetch(self, url: str) -> Fetched:
        try:
            async with asyncio.timeout(self._deadline):
                return await self._download(url)
        except TimeoutError:
            return InvalidImage(f"could not be fetched within {self._deadline:g} seconds")
        except InvalidImage as exc:
            return exc

    async def _download(self, url: str) -> bytes:
        limit = rules.INPUT_IMAGE_MAX_BYTES
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise InvalidImage(f"could not be fetched: the server answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise InvalidImage(f"is larger than 2 MB ({declared} bytes)")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise InvalidImage("is larger than 2 MB")
                return bytes(data)
        except BlockedDestination as exc:
            raise InvalidImage(f"is not allowed: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise InvalidImage("is not a valid URL") from exc
        except httpx.HTTPError as exc:
            raise InvalidImage(f"could not be fetched: {type(exc).__name__}") from exc
