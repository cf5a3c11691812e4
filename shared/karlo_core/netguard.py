"""SSRF guard for every outbound URL a caller gives us (webhook receivers, input images).

Names are resolved here and every address is checked; the connection then goes to the checked address
(Host header and TLS SNI keep the name), so a DNS answer that changes between check and connect
(rebinding) cannot reach private space. Redirects are never followed by the guarded client.

A :class:`CachingResolver` keeps a name's answer a few seconds, so a client fetching many links from the same
host resolves it once per :data:`RESOLVE_TTL_SECONDS`, not once per request. Every request is still checked
and pinned: the guard checks the (cached) addresses against its rules each time and the connection goes to a
checked one, so an answer that changes meanwhile is only seen later, never connected to unchecked. Failures are
not cached. A guard also remembers its verdict on each address it checked (the rules are its own and fixed).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

import httpx

from karlo_core.errors import BlockedDestination

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

#: Ranges never reachable, even when "global" by Python's reckoning: carrier-grade NAT, IETF protocol
#: assignments, benchmarking, the 6to4 relay anycast; IPv4-compatible IPv6 (``::a.b.c.d``, deprecated), local-use
#: NAT64 (RFC 8215, where the IPv4 part may sit anywhere), Teredo, and deprecated site-local IPv6.
_ALWAYS_BLOCKED = [
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "192.88.99.0/24",
        "::/96",
        "64:ff9b:1::/48",
        "2001::/32",
        "fec0::/10",
    )
]
#: The well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4 destination.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedDestination(f"cannot resolve {host!r}") from exc
    return [str(info[4][0]) for info in infos]


#: How long a :class:`CachingResolver` keeps a name's answer.
RESOLVE_TTL_SECONDS = 5.0
#: Names a :class:`CachingResolver` keeps at most (the oldest entry goes first past this).
RESOLVE_CACHE_ENTRIES = 256
#: Addresses whose verdict a guard keeps at most.
VERDICT_CACHE_ENTRIES = 1024


class CachingResolver:
    """Another resolver's answers, each kept ``ttl`` seconds (by host and port); safe to share between
    threads. An answer that failed is asked again next time."""

    def __init__(
        self,
        inner: Resolver = system_resolver,
        *,
        ttl: float = RESOLVE_TTL_SECONDS,
        max_entries: int = RESOLVE_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, int], tuple[float, tuple[str, ...]]] = {}

    def __call__(self, host: str, port: int) -> Sequence[str]:
        key = (host, port)
        now = self._clock()
        with self._lock:
            cached = self._answers.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        answer = tuple(self._inner(host, port))
        with self._lock:
            if len(self._answers) >= self._max_entries:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key] = (now + self._ttl, answer)
        return answer


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 destination an IPv6 transition address leads to: IPv4-mapped, well-known NAT64 or 6to4."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def parse_networks(items: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip()]


class NetGuard:
    def __init__(
        self,
        *,
        allow_networks: Sequence[IPNetwork] = (),
        allow_http: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._allow = list(allow_networks)
        self._allow_http = allow_http
        self._resolver = resolver
        self._verdicts: dict[IPAddress, bool] = {}

    def with_networks(self, allow_networks: Sequence[IPNetwork]) -> NetGuard:
        """The same guard, allowing these networks (instead of its own) besides public space."""
        return NetGuard(allow_networks=allow_networks, allow_http=self._allow_http, resolver=self._resolver)

    def is_allowed_address(self, address: IPAddress) -> bool:
        """Allow-listed, or public: an IPv6 form that carries an IPv4 address is judged by that address."""
        if any(address in net for net in self._allow):
            return True
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return self.is_allowed_address(embedded)
        return address.is_global and not address.is_multicast and not any(address in n for n in _ALWAYS_BLOCKED)

    def _allowed(self, address: IPAddress) -> bool:
        """:meth:`is_allowed_address`, remembered (a guard's rules never change)."""
        verdict = self._verdicts.get(address)
        if verdict is None:
            verdict = self.is_allowed_address(address)
            if len(self._verdicts) >= VERDICT_CACHE_ENTRIES:
                self._verdicts.clear()
            self._verdicts[address] = verdict
        return verdict

    def check_url(self, url: str) -> tuple[str, int, list[IPAddress]]:
        """Host, port and the checked addresses of ``url``; BlockedDestination if any is not allowed."""
        parts = urlsplit(url)
        schemes = ("https", "http") if self._allow_http else ("https",)
        if parts.scheme not in schemes:
            raise BlockedDestination(f"URL scheme must be {' or '.join(schemes)}")
        if not parts.hostname or parts.username or parts.password:
            raise BlockedDestination("URL must name a host and carry no credentials")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self._resolver(parts.hostname, port)]
        if not addresses:
            raise BlockedDestination(f"{parts.hostname!r} resolves to no address")
        for address in addresses:
            if not self._allowed(address):
                raise BlockedDestination(f"{parts.hostname!r} resolves to a non-public address")
        return parts.hostname, port, addresses


#: A request extension naming the NetGuard to check that request with, instead of the transport's own.
GUARD_EXTENSION = "karloq_guard"


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that checks each request's destination and connects to the checked address.

    A request may carry its own guard in ``extensions[GUARD_EXTENSION]`` (one tenant's allowed networks)."""

    def __init__(self, guard: NetGuard, inner: httpx.BaseTransport | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        guard = request.extensions.get(GUARD_EXTENSION, self._guard)
        _pin(request, *guard.check_url(str(request.url)))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """:class:`GuardedTransport` for asyncio: the name is resolved in a worker thread, off the event loop."""

    def __init__(self, guard: NetGuard, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _pin(request, *await asyncio.to_thread(self._guard.check_url, str(request.url)))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _pin(request: httpx.Request, host: str, _port: int, addresses: list[IPAddress]) -> None:
    """Send ``request`` to the first checked address; the Host header and TLS SNI keep the name."""
    request.url = request.url.copy_with(host=str(addresses[0]))
    request.headers["Host"] = request.headers.get("Host", host)
    if request.url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": host}


def guarded_client(guard: NetGuard, *, timeout: httpx.Timeout) -> httpx.Client:
    """An httpx client for caller-supplied URLs: guarded, never following redirects."""
    return httpx.Client(transport=GuardedTransport(guard), timeout=timeout, follow_redirects=False)


def guarded_async_client(guard: NetGuard, *, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The asyncio twin of :func:`guarded_client`."""
    return httpx.AsyncClient(transport=AsyncGuardedTransport(guard), timeout=timeout, follow_redirects=False)
