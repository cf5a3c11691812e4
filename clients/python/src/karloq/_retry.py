"""When a request is tried again: connection errors, 429 and 503 (and a key still in flight), bounded.

A ``Retry-After`` answer is honoured as given, unless it asks for longer than :attr:`RetryPolicy.max_retry_after`:
then waiting is the caller's decision, and the error is raised at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: Answers worth the same request again: a limit reached, a dependency briefly away.
RETRY_STATUSES = frozenset({429, 503})
#: A 409 with this problem type means the first request with the key is still being answered.
IN_FLIGHT_PROBLEM = "/problems/idempotency-key-in-flight"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delay-seconds or an HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` tries after the first; exponential backoff with jitter when the answer names no time."""

    max_retries: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds before retry number ``retry`` (0-based), or None when no retry is left or worth it."""
        if retry >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        backoff = min(self.backoff_seconds * float(2**retry), self.max_backoff_seconds)
        return backoff * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not a secret)
