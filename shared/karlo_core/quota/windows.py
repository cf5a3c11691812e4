"""Calendar windows in the quota's time zone. Pure functions; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class CalendarWindow:
    """One day or one month: its label (part of the Redis key) and its bounds in Unix seconds."""

    name: str
    label: str
    start: float
    end: float


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def day_window(now: float, tz: ZoneInfo) -> CalendarWindow:
    local = datetime.fromtimestamp(now, tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    following = start.date() + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz)
    return CalendarWindow("day", start.strftime("%Y%m%d"), _epoch(start), _epoch(end))


def month_window(now: float, tz: ZoneInfo) -> CalendarWindow:
    local = datetime.fromtimestamp(now, tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=tz)
    return CalendarWindow("month", start.strftime("%Y%m"), _epoch(start), _epoch(end))
