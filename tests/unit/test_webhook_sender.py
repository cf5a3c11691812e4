"""One attempt over the real wire to a receiver process: outcomes, no redirects, and the SSRF guard."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from karlo_core.netguard import NetGuard, guarded_client
from karlo_core.settings import Settings
from karlo_core.webhooks.factory import webhook_guard
from karlo_core.webhooks.sender import send_once
from support.receiver import Receiver

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    started = Receiver(Path(tmp_path_factory.mktemp("receiver"))).start()
    yield started
    started.stop()


def client(*, allow: list[ipaddress.IPv4Network] | None = None, timeout: float = 5.0) -> httpx.Client:
    return guarded_client(NetGuard(allow_networks=allow or [], allow_http=True), timeout=httpx.Timeout(timeout))


@pytest.mark.parametrize(
    ("status", "outcome"), [(200, "delivered"), (204, "delivered"), (410, "gone"), (500, "http_error")]
)
def test_answers_map_to_outcomes(receiver: Receiver, status: int, outcome: str) -> None:
    receiver.script(f"/s{status}", status=status)
    result = send_once(client(allow=LOOPBACK), receiver.hook(f"/s{status}"), b"{}", {"webhook-id": "msg_a_1"})
    assert (result.outcome, result.status_code) == (outcome, status)
    assert receiver.received(f"/s{status}")[-1]["headers"]["webhook-id"] == "msg_a_1"


def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    receiver.script("/moved", status=302, location=receiver.hook("/target"))
    result = send_once(client(allow=LOOPBACK), receiver.hook("/moved"), b"{}", {})
    assert (result.outcome, result.status_code) == ("redirect", 302)
    assert receiver.received("/target") == []


def test_retry_after_is_read(receiver: Receiver) -> None:
    receiver.script("/busy", status=429, retry_after="3")
    result = send_once(client(allow=LOOPBACK), receiver.hook("/busy"), b"{}", {})
    assert (result.outcome, result.retry_after) == ("http_error", 3.0)


def test_a_hanging_receiver_times_out(receiver: Receiver) -> None:
    receiver.script("/hang", hang=3)
    result = send_once(client(allow=LOOPBACK, timeout=0.5), receiver.hook("/hang"), b"{}", {})
    assert result.outcome == "timeout" and result.latency_ms < 2500


def test_a_closed_port_is_a_connection_error() -> None:
    result = send_once(client(allow=LOOPBACK), "http://127.0.0.1:9/hook", b"{}", {})
    assert result.outcome == "connection_error"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/hook",
        "http://[::1]:{port}/hook",
    ],
)
def test_private_destinations_are_refused_unless_allowlisted(receiver: Receiver, url: str) -> None:
    target = url.format(port=receiver.port)
    before = len(receiver.received())
    guard = webhook_guard(Settings(webhook_allow_http=True))
    result = send_once(guarded_client(guard, timeout=httpx.Timeout(2)), target, b"{}", {})
    assert result.outcome == "blocked", result
    assert len(receiver.received()) == before, "nothing reached the receiver"


def test_loopback_is_reached_when_allowlisted_by_setting(receiver: Receiver) -> None:
    guard = webhook_guard(Settings(webhook_allow_http=True, webhook_allow_networks="127.0.0.0/8, ::1/128"))
    receiver.script("/ok", status=200)
    http = guarded_client(guard, timeout=httpx.Timeout(5))
    for host in ("127.0.0.1", "localhost"):
        result = send_once(http, f"http://{host}:{receiver.port}/ok", b"{}", {})
        assert result.outcome == "delivered", result


def test_plain_http_is_refused_by_default(receiver: Receiver) -> None:
    guard = webhook_guard(Settings(webhook_allow_networks="127.0.0.0/8"))
    result = send_once(guarded_client(guard, timeout=httpx.Timeout(2)), receiver.hook("/ok"), b"{}", {})
    assert result.outcome == "blocked" and "scheme" in (result.error or "")
