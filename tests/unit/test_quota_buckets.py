"""The reservation script against a real Redis, on a test clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from karlo_core import keys
from karlo_core.quota.buckets import Denied, Granted, QuotaBuckets, QuotaLimits, Scope
from support.stacks import Services

SEOUL = ZoneInfo("Asia/Seoul")
KARLO = Scope("karlo", QuotaLimits(per_minute=10, per_day=25, per_month=40))


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SEOUL).timestamp()


@pytest.fixture
def buckets(services: Services) -> Iterator[QuotaBuckets]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    quota = QuotaBuckets(client, tz=SEOUL, minute_seconds=60, clock_override=True)
    quota.set_test_clock(at("2026-11-25T12:00:00"))
    yield quota
    client.close()


def test_all_windows_are_charged_together(buckets: QuotaBuckets) -> None:
    assert isinstance(buckets.reserve([KARLO], 4, "r1"), Granted)
    assert [(u.window, u.used, u.remaining) for u in buckets.usage(KARLO)] == [
        ("minute", 4, 6),
        ("day", 4, 21),
        ("month", 4, 36),
    ]


def test_the_minute_window_never_holds_more_than_its_limit_in_any_span(buckets: QuotaBuckets) -> None:
    start = at("2026-11-25T12:00:00")
    grants: list[tuple[float, int]] = []
    for step in range(240):  # every half second for two minutes, 3 images each time
        moment = start + step * 0.5
        buckets.set_test_clock(moment)
        if isinstance(buckets.reserve([Scope("s", QuotaLimits(10, 10**6, 10**6))], 3, f"r{step}"), Granted):
            grants.append((moment, 3))
    for begin, _ in grants:
        assert sum(n for t, n in grants if begin <= t < begin + 60) <= 10
    assert sum(n for _, n in grants) == 9 * 2  # 9 of 10 fit per minute (3+3+3), two minutes


def test_a_denial_says_when_quota_frees_up_and_takes_nothing(buckets: QuotaBuckets) -> None:
    start = at("2026-11-25T12:00:00")
    buckets.reserve([KARLO], 6, "a")
    buckets.set_test_clock(start + 20)
    buckets.reserve([KARLO], 3, "b")
    buckets.set_test_clock(start + 30)
    denied = buckets.reserve([KARLO], 4, "c")
    assert denied == Denied("karlo", "minute", start + 60)  # when "a" leaves the window
    assert buckets.usage(KARLO)[0].used == 9
    buckets.set_test_clock(start + 60)
    assert isinstance(buckets.reserve([KARLO], 4, "c"), Granted)


def test_a_denial_in_a_long_minute_log_finds_the_entries_that_free_enough(buckets: QuotaBuckets) -> None:
    """The log is read oldest first, a page at a time, only as far as needed: the answer is the one a whole
    read gives, across page bounds and past the log's end."""
    start = at("2026-11-25T12:00:00")
    scope = Scope("long", QuotaLimits(per_minute=100, per_day=10**6, per_month=10**6))
    for i in range(100):  # one image a tenth of a second apart: a full window of 100 entries
        buckets.set_test_clock(start + i / 10)
        assert isinstance(buckets.reserve([scope], 1, f"r{i}"), Granted)
    buckets.set_test_clock(start + 30)
    for images in (1, 8, 9, 24, 25, 57, 100):  # the entries to leave first: within and across pages of 8, 16, 32
        assert buckets.reserve([scope], images, "x") == Denied("long", "minute", start + (images - 1) / 10 + 60)
    assert buckets.reserve([scope], 101, "x") == Denied("long", "minute", float("inf"))


def test_day_and_month_reset_at_seoul_midnight_and_month_end(buckets: QuotaBuckets) -> None:
    buckets.set_test_clock(at("2026-11-30T10:00:00"))
    for i in range(5):
        buckets.set_test_clock(at("2026-11-30T10:00:00") + i * 61)
        assert isinstance(buckets.reserve([KARLO], 5, f"d{i}"), Granted)
    buckets.set_test_clock(at("2026-11-30T23:59:59"))
    assert buckets.reserve([KARLO], 1, "late") == Denied("karlo", "day", at("2026-12-01T00:00:00"))
    buckets.set_test_clock(at("2026-12-01T00:00:00"))
    assert isinstance(buckets.reserve([KARLO], 5, "new-day-new-month"), Granted)
    assert [u.used for u in buckets.usage(KARLO)] == [5, 5, 5]


def test_the_month_limit_holds_across_days(buckets: QuotaBuckets) -> None:
    for day in range(1, 9):
        buckets.set_test_clock(at(f"2027-02-{day:02d}T09:00:00"))
        result = buckets.reserve([KARLO], 5, f"m{day}")
        assert isinstance(result, Granted) == (day <= 8)
    buckets.set_test_clock(at("2027-02-28T23:00:00"))
    assert buckets.reserve([KARLO], 1, "over") == Denied("karlo", "month", at("2027-03-01T00:00:00"))


def test_keys_expire_with_their_windows(buckets: QuotaBuckets, services: Services) -> None:
    buckets.set_test_clock(None)  # TTLs are set from real time: use the real clock here
    buckets.reserve([KARLO], 1, "ttl")
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    day_keys = list(client.scan_iter(keys.quota_window("karlo", "day", "*")))
    ttl = client.ttl(day_keys[0])
    assert 0 < ttl <= 86400 + 3600
    assert 0 < client.ttl(keys.quota_minute("karlo")) <= 120


def test_refund_happens_exactly_once(buckets: QuotaBuckets) -> None:
    buckets.reserve([KARLO], 4, "once")
    assert buckets.refund("once")
    assert not buckets.refund("once")
    assert not buckets.refund("never-reserved")
    assert [u.used for u in buckets.usage(KARLO)] == [0, 0, 0]


def test_a_reservation_spans_scopes_all_or_nothing(buckets: QuotaBuckets) -> None:
    tenant = Scope("tenant:acme", QuotaLimits(per_minute=3, per_day=100, per_month=100))
    assert isinstance(buckets.reserve([KARLO, tenant], 3, "t1"), Granted)
    assert buckets.reserve([KARLO, tenant], 1, "t2") == Denied("tenant:acme", "minute", at("2026-11-25T12:01:00"))
    assert buckets.usage(KARLO)[0].used == 3  # the upstream scope was not charged for the denied request


def test_a_job_larger_than_a_window_can_never_fit(buckets: QuotaBuckets) -> None:
    small = Scope("small", QuotaLimits(per_minute=4, per_day=100, per_month=100))
    assert buckets.reserve([small], 8, "big") == Denied("small", "minute", float("inf"))


def test_after_karlo_says_minus_10_nothing_is_reserved_until_the_block_ends(buckets: QuotaBuckets) -> None:
    until = at("2026-11-25T12:01:00")
    buckets.block_until(until)
    assert buckets.reserve([KARLO], 1, "x") == Denied("karlo", "upstream", until)
    buckets.set_test_clock(until)
    assert isinstance(buckets.reserve([KARLO], 1, "x"), Granted)


def test_one_tenants_burst_leaves_the_others_their_share(buckets: QuotaBuckets) -> None:
    upstream = Scope("karlo", QuotaLimits(per_minute=10, per_day=1000, per_month=1000))
    share = QuotaLimits(per_minute=5, per_day=1000, per_month=1000)
    alice, bob = Scope("tenant:alice", share), Scope("tenant:bob", share)
    granted_alice = sum(isinstance(buckets.reserve([upstream, alice], 1, f"a{i}"), Granted) for i in range(20))
    granted_bob = sum(isinstance(buckets.reserve([upstream, bob], 1, f"b{i}"), Granted) for i in range(5))
    assert (granted_alice, granted_bob) == (5, 5)


def test_usage_reads_the_running_totals_not_the_log(buckets: QuotaBuckets) -> None:
    """O(1) in the minute log's length: usage() takes the running total beside the log, and only the entries
    that left the window are read (once, to subtract them)."""
    assert isinstance(buckets.reserve([KARLO], 3, "r1"), Granted)
    buckets._redis.set(keys.quota_minute_total("karlo"), 7)  # a total the log does not add up to
    assert buckets.usage(KARLO)[0].used == 7
    buckets.set_test_clock(at("2026-11-25T12:01:01"))  # the entry left the window: its 3 images go
    minute = buckets.usage(KARLO)[0]
    assert (minute.used, buckets._redis.zcard(keys.quota_minute("karlo"))) == (4, 0)


def test_usages_of_two_scopes_come_in_one_reading(buckets: QuotaBuckets) -> None:
    share = Scope("tenant:t1", QuotaLimits(per_minute=5, per_day=6, per_month=7))
    assert isinstance(buckets.reserve([KARLO, share], 2, "r1"), Granted)
    upstream, own = buckets.usages([KARLO, share])
    assert [(u.window, u.used) for u in upstream] == [("minute", 2), ("day", 2), ("month", 2)]
    assert [(u.window, u.remaining) for u in own] == [("minute", 3), ("day", 4), ("month", 5)]
    assert own[0].resets_at == at("2026-11-25T12:00:00") + 60
