"""Reserving, refunding and reading quota, in Redis, on Redis's own clock.

A scope is one set of windows: ``karlo`` (the upstream account) and, optionally, ``tenant:<id>`` (a tenant's
share). A reservation takes images from every window of every scope it names, or from none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import redis

from karlo_core import keys, lua
from karlo_core.quota.windows import CalendarWindow, day_window, month_window

#: Reservation records live long enough for any refund decision.
RECORD_TTL_SECONDS = 2 * 86400
#: The scope every job draws on: Karlo's own quota, shared by all tenants.
UPSTREAM_SCOPE = "karlo"


@dataclass(frozen=True)
class QuotaLimits:
    per_minute: int
    per_day: int
    per_month: int


@dataclass(frozen=True)
class Scope:
    name: str
    limits: QuotaLimits


@dataclass(frozen=True)
class Granted:
    reservation_id: str
    at: float


@dataclass(frozen=True)
class Denied:
    """No images taken. ``retry_at`` is when enough quota frees up (``inf``: the job can never fit)."""

    scope: str
    window: str
    retry_at: float

    @classmethod
    def upstream_blocked(cls, until: float) -> Denied:
        """Karlo itself reported its quota spent; nothing is reserved until ``until``."""
        return cls(UPSTREAM_SCOPE, "upstream", until)


@dataclass(frozen=True)
class WindowUsage:
    window: str
    limit: int
    used: int
    resets_at: float
    #: Redis's time when this was read, so callers need no second clock read.
    measured_at: float

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def resets_in(self) -> float:
        return max(self.resets_at - self.measured_at, 0.0)


class QuotaBuckets:
    def __init__(
        self, client: redis.Redis, *, tz: ZoneInfo, minute_seconds: float, clock_override: bool = False
    ) -> None:
        self._redis = client
        self._tz = tz
        self._minute = minute_seconds
        self._override = "1" if clock_override else "0"
        self._clock_offset = 0.0
        self._windows: tuple[CalendarWindow, CalendarWindow] | None = None
        self._reserve_calls: dict[tuple[Scope, ...], tuple[tuple[CalendarWindow, CalendarWindow], list[str], str]] = {}
        self._clock_key = keys.quota_clock()
        self._blocked_key = keys.quota_blocked()
        self._now = client.register_script(lua.load("quota_now"))
        self._reserve = client.register_script(lua.load("quota_reserve"))
        self._usage = client.register_script(lua.load("quota_usage"))
        self._refund = client.register_script(lua.load("quota_refund"))
        self._restamp = client.register_script(lua.load("quota_restamp"))

    def now(self) -> float:
        return float(self._now(keys=[keys.quota_clock()], args=[self._override]))

    def reserve(self, scopes: Sequence[Scope], images: int, reservation_id: str) -> Granted | Denied:
        """Windows are chosen from a guess of Redis's clock; the script decides on Redis TIME itself and
        answers ``stale`` (with its time) when the guess named the wrong day or month."""
        now = self.guess_now()
        for _ in range(3):
            day, month = self.windows(now)
            scope_keys, settings = self._reserve_call(tuple(scopes), day, month)
            record = keys.quota_reservation(reservation_id)
            reply = self._reserve(
                keys=[self._clock_key, self._blocked_key, record, *scope_keys], args=[images, reservation_id, settings]
            )
            outcome = reply[0]
            if outcome == "stale":
                now = self.learn_clock(float(reply[1]))
                continue
            if outcome == "granted":
                self.learn_clock(float(reply[1]))
                return Granted(reservation_id, float(reply[1]))
            if outcome == "denied":
                return Denied(scopes[int(reply[1])].name, str(reply[2]), float(reply[3]))
            if outcome == "blocked":
                return Denied.upstream_blocked(float(reply[1]))
        raise RuntimeError("quota windows kept moving while reserving")

    def _reserve_call(
        self, scopes: tuple[Scope, ...], day: CalendarWindow, month: CalendarWindow
    ) -> tuple[list[str], str]:
        """The scope keys and the settings argument of a reservation, built once per scopes and day."""
        cached = self._reserve_calls.get(scopes)
        if cached is not None and cached[0] == (day, month):
            return cached[1], cached[2]
        limits: list[int] = []
        for scope in scopes:
            limits += [scope.limits.per_minute, scope.limits.per_day, scope.limits.per_month]
        fixed = [self._minute, day.start, day.end, month.start, month.end, self._override, RECORD_TTL_SECONDS, *limits]
        built = (
            self.scope_keys(scopes, day, month),
            " ".join(repr(v) if isinstance(v, float) else str(v) for v in fixed),
        )
        if len(self._reserve_calls) > 1000:
            self._reserve_calls.clear()
        self._reserve_calls[scopes] = ((day, month), *built)
        return built

    # --- the calendar windows, on a guess of Redis's clock ----------------------------------------------
    def guess_now(self) -> float:
        """Redis's clock as last seen by a script, carried forward on this machine's."""
        return time.time() + self._clock_offset

    def learn_clock(self, redis_now: float) -> float:
        """Note the time a script read (Redis's, or the test clock), for the next guess; returns it."""
        self._clock_offset = redis_now - time.time()
        return redis_now

    def windows(self, now: float) -> tuple[CalendarWindow, CalendarWindow]:
        """The day and month holding ``now``; computed once per day, not per call."""
        cached = self._windows
        if cached is not None and cached[0].start <= now < cached[0].end and cached[1].start <= now < cached[1].end:
            return cached
        self._windows = (day_window(now, self._tz), month_window(now, self._tz))
        return self._windows

    @staticmethod
    def scope_keys(scopes: Sequence[Scope], day: CalendarWindow, month: CalendarWindow) -> list[str]:
        """Per scope: minute log, minute total, day counter, month counter (the scripts' key layout)."""
        found: list[str] = []
        for scope in scopes:
            found += [
                keys.quota_minute(scope.name),
                keys.quota_minute_total(scope.name),
                keys.quota_window(scope.name, "day", day.label),
                keys.quota_window(scope.name, "month", month.label),
            ]
        return found

    def usages_from(
        self, values: Sequence[str], scopes: Sequence[Scope], now: float, day: CalendarWindow, month: CalendarWindow
    ) -> list[list[WindowUsage]]:
        """Each scope's windows from a script's usage reply (per scope: minute used, minute reset, day used,
        month used; ``lua/quota_lib.lua``)."""
        found = []
        for i, scope in enumerate(scopes):
            minute_used, minute_reset, day_used, month_used = values[4 * i : 4 * i + 4]
            found.append(
                [
                    WindowUsage("minute", scope.limits.per_minute, int(minute_used), float(minute_reset), now),
                    WindowUsage("day", scope.limits.per_day, int(day_used), day.end, now),
                    WindowUsage("month", scope.limits.per_month, int(month_used), month.end, now),
                ]
            )
        return found

    def refund(self, reservation_id: str) -> bool:
        """Return the images of a reservation whose call certainly generated nothing; True only once."""
        record_key = keys.quota_reservation(reservation_id)
        scope_keys = str(self._redis.hget(record_key, "keys") or "").split()
        return bool(self._refund(keys=[record_key, *scope_keys], args=[]))

    def restamp(self, reservation_id: str) -> bool:
        """Just before the upstream call: move the reservation's minute entries to now (the windows count calls
        when made); False when it is not held or its entries already left the window (give it back, queue again)."""
        record_key = keys.quota_reservation(reservation_id)
        return bool(self._restamp(keys=[keys.quota_clock(), record_key], args=[self._minute, self._override]))

    def block_until(self, until: float) -> None:
        """Karlo answered -10: reserve nothing until ``until`` (Unix seconds)."""
        ttl_ms = max(int((until - self.now()) * 1000) + 1000, 1000)
        self._redis.set(keys.quota_blocked(), repr(until), px=ttl_ms)

    def usage(self, scope: Scope) -> list[WindowUsage]:
        """Limit, use and reset time of each window, as ``GET /v1/quota`` and the metrics show them."""
        return self.usages([scope])[0]

    def usages(self, scopes: Sequence[Scope]) -> list[list[WindowUsage]]:
        """:meth:`usage` of several scopes, in one round trip, read from the running totals: O(1) whatever
        the length of the minute log (``lua/quota_usage.lua``)."""
        now = self.guess_now()
        for _ in range(3):
            day, month = self.windows(now)
            reply = self._usage(
                keys=[keys.quota_clock(), *self.scope_keys(scopes, day, month)],
                args=[self._override, self._minute, day.start, day.end, month.start, month.end],
            )
            now = self.learn_clock(float(reply[1]))
            if reply[0] == "usage":
                return self.usages_from([str(v) for v in reply[2:]], scopes, now, day, month)
        raise RuntimeError("quota windows kept moving while reading them")

    @property
    def override(self) -> str:
        """'1' when the scripts may read the test clock."""
        return self._override

    @property
    def minute_seconds(self) -> float:
        return self._minute

    def set_test_clock(self, at: float | None) -> None:
        """Tests only (overrides must be enabled): make the scripts read ``at`` instead of Redis TIME."""
        if at is None:
            self._redis.delete(keys.quota_clock())
        else:
            self._redis.set(keys.quota_clock(), repr(at))
