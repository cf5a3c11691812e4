"""The SSRF guard refuses private, loopback, link-local and metadata destinations."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from karlo_core.netguard import BlockedDestination, GuardedTransport, NetGuard, parse_networks


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
