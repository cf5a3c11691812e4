"""The retry timetable, its jitter, and Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from karlo_core.settings import Settings
from karlo_core.webhooks.schedule import next_delay, parse_schedule, retry_after_seconds


def test_the_default_schedule_reaches_about_a_day() -> None:
    schedule = parse_schedule(Settings().webhook_retry_schedule)
    assert schedule[:3] == [5, 300, 1800]
    assert 24 * 3600 <= sum(schedule) <= 30 * 3600


def test_delays_are_jittered_within_bounds_and_end_with_the_schedule() -> None:
    rng = random.Random(1)
    delays = [next_delay(1, [100.0], jitter=0.2, rng=rng) for _ in range(200)]
    assert all(d is not None and 80 <= d <= 120 for d in delays)
    assert len(set(delays)) > 100
    assert next_delay(2, [100.0], jitter=0.2) is None


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="not a delay"):
        parse_schedule("5s,soon")
    with pytest.raises(ValueError):
        Settings(webhook_retry_schedule="5x")


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_seconds("7", now=0) == 7
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert retry_after_seconds(format_datetime(when, usegmt=True), now=when.timestamp() - 30) == 30
    assert retry_after_seconds("soon", now=0) is None
    assert retry_after_seconds(None, now=0) is None
