"""Which quota scopes a job draws on, and whether a failed call's reservation is given back."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import redis

from karlo_core.errors import (
    KarloQueueError,
    UpstreamAuthError,
    UpstreamQuotaExceeded,
    UpstreamRejected,
    UpstreamUnavailable,
)
from karlo_core.quota.buckets import QuotaBuckets, QuotaLimits, Scope
from karlo_core.settings import Settings

UPSTREAM_SCOPE = "karlo"


def upstream_scope(settings: Settings) -> Scope:
    limits = QuotaLimits(settings.quota_per_minute, settings.quota_per_day, settings.quota_per_month)
    return Scope(UPSTREAM_SCOPE, limits)


def make_buckets(settings: Settings, client: redis.Redis) -> QuotaBuckets:
    return QuotaBuckets(
        client,
        tz=ZoneInfo(settings.quota_timezone),
        minute_seconds=settings.quota_minute_window_seconds + settings.quota_window_guard_seconds,
        clock_override=settings.quota_test_clock,
    )


def generated_nothing(exc: KarloQueueError) -> bool:
    """True when Karlo certainly made no images, so the reservation may be refunded.

    Refused requests, credentials and quota answers made nothing; a request that never left made nothing.
    Timeouts after sending, 5xx answers and failures after the images came back are unclear: kept.
    """
    if isinstance(exc, UpstreamRejected | UpstreamAuthError | UpstreamQuotaExceeded):
        return True
    return isinstance(exc, UpstreamUnavailable) and not exc.sent
