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
from karlo_core.plans import Plan, default_plan
from karlo_core.quota.buckets import UPSTREAM_SCOPE, QuotaBuckets, QuotaLimits, Scope
from karlo_core.settings import Settings

#: A window with no per-tenant limit (large enough never to bind).
UNLIMITED = 10**12


def upstream_scope(settings: Settings) -> Scope:
    limits = QuotaLimits(settings.quota_per_minute, settings.quota_per_day, settings.quota_per_month)
    return Scope(UPSTREAM_SCOPE, limits)


def tenant_scope(settings: Settings, tenant: str, plan: Plan | None = None) -> Scope | None:
    """The tenant's own share (its plan's, else the defaults), or None when it has no limit of its own."""
    plan = plan or default_plan(settings)
    return share_scope(tenant, plan.per_minute, plan.per_day, plan.per_month)


def share_scope(tenant: str, per_minute: int, per_day: int, per_month: int) -> Scope | None:
    """A tenant's share with these plan limits (0: none in that window), or None when none is set."""
    limits = (per_minute, per_day, per_month)
    if not any(limits):
        return None
    minute, day, month = (value or UNLIMITED for value in limits)
    return Scope(share_name(tenant), QuotaLimits(minute, day, month))


def share_name(tenant: str) -> str:
    """The quota scope name of a tenant's share (its keys: ``karlo_core.keys.quota_*``)."""
    return f"tenant:{tenant}"


def scopes_for(settings: Settings, tenant: str, plan: Plan | None = None) -> list[Scope]:
    """Every job draws on the upstream quota, and on its tenant's share when its plan (or the defaults) sets
    one (the same scopes a dispatch step, ``lua/sched_step.lua``, reserves from)."""
    own = tenant_scope(settings, tenant, plan)
    return [upstream_scope(settings)] if own is None else [upstream_scope(settings), own]


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
