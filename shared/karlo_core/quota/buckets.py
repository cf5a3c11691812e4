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
from karlo_core.quota.windows import day_window, month_window

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
        self._now = client.register_script(lua.load("quota_now"))
        self._reserve = client.register_script(lua.load("quota_reserve"))
        self._refund = client.register_script(lua.load("quota_refund"))
        self._restamp = client.register_script(lua.load("quota_restamp"))

    def now(self) -> float:
        return float(self._now(keys=[keys.quota_clock()], args=[self._override]))

    def reserve(self, scopes: Sequence[Scope], images: int, reservation_id: str) -> Granted | Denied:
        """Windows are chosen from a guess of Redis's clock; the script decides on Redis TIME itself and
        answers ``stale`` (with its time) when the guess named the wrong day or month."""
        now = time.time() + self._clock_offset
        for _ in range(3):
            day, month = day_window(now, self._tz), month_window(now, self._tz)
            scope_keys: list[str] = []
            limits: list[int] = []
            for scope in scopes:
                scope_keys += [
                    keys.quota_minute(scope.name),
                    keys.quota_minute_total(scope.name),
                    keys.quota_window(scope.name, "day", day.label),
                    keys.quota_window(scope.name, "month", month.label),
                ]
                limits += [scope.limits.per_minute, scope.limits.per_day, scope.limits.per_month]
            reply = self._reserve(
                keys=[keys.quota_clock(), keys.quota_blocked(), keys.quota_reservation(reservation_id), *scope_keys],
                args=[
                    images,
                    reservation_id,
                    self._minute,
                    day.start,
                    day.end,
                    month.start,
                    month.end,
                    self._override,
                    RECORD_TTL_SECONDS,
                    *limits,
                ],
            )
            outcome = reply[0]
            if outcome == "stale":
                now = float(reply[1])
                self._clock_offset = now - time.time()
                continue
            if outcome == "granted":
                self._clock_offset = float(reply[1]) - time.time()
                return Granted(reservation_id, float(reply[1]))
            if outcome == "denied":
                return Denied(scopes[int(reply[1])].name, str(reply[2]), float(reply[3]))
            if outcome == "blocked":
                return Denied.upstream_blocked(float(reply[1]))
        raise RuntimeError("quota windows kept moving while reserving")

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
        now = self.now()
        day, month = day_window(now, self._tz), month_window(now, self._tz)
        minute_key = keys.quota_minute(scope.name)
        raw: list[tuple[str, float]] = self._redis.zrangebyscore(  # type: ignore[assignment]
            minute_key, f"({now - self._minute}", "+inf", withscores=True
        )
        entries = [(str(member), float(score)) for member, score in raw]
        minute_used = sum(int(member.rsplit(":", 1)[1]) for member, _ in entries)
        oldest = min((score for _, score in entries), default=now)
        counts = self._redis.mget(
            keys.quota_window(scope.name, "day", day.label), keys.quota_window(scope.name, "month", month.label)
        )
        return [
            WindowUsage("minute", scope.limits.per_minute, minute_used, oldest + self._minute, now),
            WindowUsage("day", scope.limits.per_day, int(counts[0] or 0), day.end, now),
            WindowUsage("month", scope.limits.per_month, int(counts[1] or 0), month.end, now),
        ]

    def set_test_clock(self, at: float | None) -> None:
        """Tests only (overrides must be enabled): make the scripts read ``at`` instead of Redis TIME."""
        if at is None:
            self._redis.delete(keys.quota_clock())
        else:
            self._redis.set(keys.quota_clock(), repr(at))
