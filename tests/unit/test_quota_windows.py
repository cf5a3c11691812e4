"""Calendar windows in the quota's time zone: day and month bounds, month lengths, leap years."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from karlo_core.quota.windows import day_window, month_window

SEOUL = ZoneInfo("Asia/Seoul")


def at(text: str, tz: ZoneInfo = SEOUL) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def test_a_seoul_day_starts_at_local_midnight() -> None:
    window = day_window(at("2026-11-25T23:59:59"), SEOUL)
    assert (window.label, window.start, window.end) == (
        "20261125",
        at("2026-11-25T00:00:00"),
        at("2026-11-26T00:00:00"),
    )
    assert day_window(at("2026-11-26T00:00:00"), SEOUL).label == "20261126"
    # 14:59:59 UTC is still the 25th in Seoul's calendar only until 15:00 UTC.
    assert day_window(datetime.fromisoformat("2026-11-25T15:00:00+00:00").timestamp(), SEOUL).label == "20261126"


@pytest.mark.parametrize(
    ("moment", "label", "days"),
    [
        ("2026-01-31T12:00:00", "202601", 31),
        ("2027-02-14T00:00:00", "202702", 28),
        ("2028-02-29T23:59:59", "202802", 29),
        ("2026-04-30T23:59:59", "202604", 30),
        ("2026-12-31T23:59:59", "202612", 31),
    ],
)
def test_month_lengths(moment: str, label: str, days: int) -> None:
    window = month_window(at(moment), SEOUL)
    assert window.label == label
    assert window.end - window.start == days * 86400


def test_a_zone_with_daylight_saving_has_a_23_hour_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    window = day_window(at("2026-03-29T12:00:00", berlin), berlin)
    assert window.end - window.start == 23 * 3600
