"""The SSRF guard refuses private, loopback, link-local and metadata destinations."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from karlo_core.errors import BlockedDestination
from karlo_core.netguard import CachingResolver, GuardedTransport, NetGuard, parse_networks


def resolver_for(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    return lambda host, port: table.get(host, [host])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://10.0.0.1/x",
        "https://172.16.5.4/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[fe80::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://100.64.0.1/x",
        "https://0.0.0.0/x",
        "https://localtrap.example/x",
        "http://93.184.216.34/x",
        "ftp://93.184.216.34/x",
        "https://user:pw@93.184.216.34/x",
    ],
)
def test_refuses(url: str) -> None:
    guard = NetGuard(resolver=resolver_for({"localtrap.example": ["127.0.0.1"]}))
    with pytest.raises(BlockedDestination):
        guard.check_url(url)


TRANSITION_FORMS = [
    ("IPv4-compatible loopback", "::127.0.0.1"),
    ("IPv4-compatible public", "::8.8.8.8"),
    ("IPv4-mapped loopback", "::ffff:127.0.0.1"),
    ("IPv4-mapped private", "::ffff:10.0.0.1"),
    ("NAT64 well-known to loopback", "64:ff9b::7f00:1"),
    ("NAT64 well-known to metadata", "64:ff9b::a9fe:a9fe"),
    ("NAT64 well-known to private", "64:ff9b::10.1.2.3"),
    ("NAT64 local-use", "64:ff9b:1::7f00:1"),
    ("NAT64 local-use, public-looking", "64:ff9b:1:808:808::"),
    ("6to4 of loopback", "2002:7f00:1::1"),
    ("6to4 of a private address", "2002:c0a8:101::1"),
    ("6to4 of metadata", "2002:a9fe:a9fe::"),
    ("Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2"),
    ("site-local", "fec0::1"),
    ("6to4 relay anycast", "192.88.99.1"),
]


@pytest.mark.parametrize(("name", "address"), TRANSITION_FORMS, ids=[f[0] for f in TRANSITION_FORMS])
def test_ipv6_transition_forms_are_refused(name: str, address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(BlockedDestination):
        NetGuard().check_url(f"https://{host}/x")
    with pytest.raises(BlockedDestination):
        NetGuard(resolver=resolver_for({"trap.example": [address]})).check_url("https://trap.example/x")


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111"])
def test_transition_forms_of_public_addresses_pass(address: str) -> None:
    assert NetGuard().check_url(f"https://[{address}]/x")[2] == [ipaddress.ip_address(address)]


def test_an_allow_listed_ipv4_network_admits_its_mapped_and_nat64_forms() -> None:
    guard = NetGuard(allow_networks=parse_networks(["10.0.0.0/8"]))
    guard.check_url("https://[::ffff:10.1.2.3]/x")
    guard.check_url("https://[64:ff9b::10.1.2.3]/x")


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    guard = NetGuard(resolver=resolver_for({"mixed.example": ["93.184.216.34", "10.1.2.3"]}))
    with pytest.raises(BlockedDestination):
        guard.check_url("https://mixed.example/")


def test_public_and_allowlisted_destinations_pass() -> None:
    guard = NetGuard(allow_networks=parse_networks(["127.0.0.0/8"]), allow_http=True)
    assert guard.check_url("http://127.0.0.1:8080/hook")[2] == [ipaddress.ip_address("127.0.0.1")]
    assert NetGuard().check_url("https://93.184.216.34/")[1] == 443


def test_transport_connects_to_the_checked_address_and_keeps_the_host_name() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    guard = NetGuard(resolver=resolver_for({"hooks.example": ["93.184.216.34"]}))
    client = httpx.Client(transport=GuardedTransport(guard, httpx.MockTransport(handler)))
    assert client.post("https://hooks.example/h").status_code == 204
    assert seen[0].url.host == "93.184.216.34"
    assert seen[0].headers["host"] == "hooks.example"
    assert seen[0].extensions["sni_hostname"] == "hooks.example"
    with pytest.raises(BlockedDestination):
        httpx.Client(transport=GuardedTransport(NetGuard(), httpx.MockTransport(handler))).get("https://10.0.0.1/")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_answer_is_reused_until_it_expires_and_failures_are_asked_again() -> None:
    asked: list[str] = []
    answers = {"img.example": ["93.184.216.34"]}

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in answers:
            raise BlockedDestination(f"cannot resolve {host!r}")
        return answers[host]

    clock = _Clock()
    cached = CachingResolver(resolver, ttl=5.0, clock=clock)
    assert list(cached("img.example", 443)) == ["93.184.216.34"]
    assert list(cached("img.example", 443)) == ["93.184.216.34"]
    assert asked == ["img.example"]
    for _ in range(2):
        with pytest.raises(BlockedDestination):
            cached("gone.example", 443)
    assert asked == ["img.example", "gone.example", "gone.example"]
    answers["img.example"] = ["10.1.2.3"]
    clock.now = 5.0
    assert list(cached("img.example", 443)) == ["10.1.2.3"]


def test_a_cached_answer_is_still_checked_and_pinned_on_every_request() -> None:
    """A name that comes to resolve to private space is refused once its answer is asked again; meanwhile the
    connection goes to the address checked before, never to an unchecked one."""
    seen: list[httpx.Request] = []
    answers = {"img.example": ["93.184.216.34"]}
    clock = _Clock()
    cached = CachingResolver(lambda host, port: answers[host], ttl=5.0, clock=clock)
    guard = NetGuard(resolver=cached)
    client = httpx.Client(
        transport=GuardedTransport(guard, httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200)))
    )
    client.get("https://img.example/a")
    answers["img.example"] = ["127.0.0.1"]
    client.get("https://img.example/b")
    assert [request.url.host for request in seen] == ["93.184.216.34", "93.184.216.34"]
    clock.now = 5.0
    with pytest.raises(BlockedDestination):
        client.get("https://img.example/c")
    allowing = guard.with_networks(parse_networks(["127.0.0.0/8"]))
    assert allowing.check_url("https://img.example/d")[2] == [ipaddress.ip_address("127.0.0.1")]


def test_the_cache_keeps_a_bounded_number_of_names() -> None:
    cached = CachingResolver(lambda host, port: ["93.184.216.34"], max_entries=2)
    for host in ("a.example", "b.example", "c.example"):
        cached(host, 443)
    assert len(cached._answers) == 2
