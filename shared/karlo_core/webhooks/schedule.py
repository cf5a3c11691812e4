"""The retry timetable: delays between attempts, spread by jitter, and a receiver's Retry-After."""

from __future__ import annotations

import random
import re
from email.utils import parsedate_to_datetime

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_schedule(text: str) -> list[float]:
    """``"5s,5m,30m,2h"`` -> seconds; a bare number is seconds. ValueError on anything else."""
    delays = []
    for item in text.split(","):
        match = _DELAY.match(item)
        if not match:
            raise ValueError(f"not a delay: {item!r} (write e.g. 5s, 5m, 2h)")
        delays.append(float(match[1]) * _UNITS[match[2] or "s"])
    return delays


def next_delay(
    failed_attempts: int, schedule: list[float], *, jitter: float, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after ``failed_attempts`` failures, or None once the schedule is spent."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    delay = schedule[failed_attempts - 1]
    return max(0.0, delay * (1 + (rng or random).uniform(-jitter, jitter)))


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from ``now``; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
