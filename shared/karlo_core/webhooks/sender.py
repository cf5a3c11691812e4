"""One webhook attempt over HTTP and what its answer means. No loops and no sleeps: retrying is the outbox's.

Per Standard Webhooks: 2xx is delivered; 410 Gone disables the endpoint; 3xx is a failure (redirects are not
followed); anything else, a timeout or a refused connection is retried, after ``Retry-After`` when given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from karlo_core.errors import BlockedDestination
from karlo_core.netguard import GUARD_EXTENSION, NetGuard
from karlo_core.webhooks.schedule import retry_after_seconds

USER_AGENT = "karlo-queue-webhooks/1"


@dataclass(frozen=True)
class SendResult:
    outcome: str  # delivered | gone | redirect | http_error | timeout | connection_error | blocked
    status_code: int | None
    latency_ms: float
    error: str | None = None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"

    @property
    def gone(self) -> bool:
        return self.outcome == "gone"


def classify(status_code: int) -> str:
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "gone"
    if 300 <= status_code < 400:
        return "redirect"
    return "http_error"


def send_once(
    http: httpx.Client, url: str, body: bytes, headers: dict[str, str], *, guard: NetGuard | None = None
) -> SendResult:
    """POST ``body`` to ``url`` once (checked by ``guard`` when given, else by the client's own guard); never
    raises for network trouble, it is part of the result."""
    started = time.monotonic()
    all_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}

    def elapsed_ms() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    try:
        extensions = {GUARD_EXTENSION: guard} if guard is not None else None
        with http.stream("POST", url, content=body, headers=all_headers, extensions=extensions) as response:
            outcome = classify(response.status_code)
            retry_after = retry_after_seconds(response.headers.get("retry-after"), now=time.time())
            error = None if outcome == "delivered" else f"receiver answered {response.status_code}"
            return SendResult(outcome, response.status_code, elapsed_ms(), error, retry_after)
    except BlockedDestination as exc:
        return SendResult("blocked", None, elapsed_ms(), str(exc))
    except httpx.TimeoutException as exc:
        return SendResult("timeout", None, elapsed_ms(), f"timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return SendResult("connection_error", None, elapsed_ms(), f"{type(exc).__name__}: {exc}"[:300])
