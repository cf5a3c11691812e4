"""Quota as HTTP sees it: IETF RateLimit-Policy / RateLimit fields, and the 429 quota-exceeded problem."""

from __future__ import annotations

import math

from karlo_api.problems import Problem
from karlo_core.quota.buckets import WindowUsage
from karlo_core.quota.policy import UNLIMITED

#: Nominal lengths for the policy's ``w`` parameter (calendar months vary; 30 days is the convention).
NOMINAL_SECONDS = {"day": 86400, "month": 30 * 86400}


def policy_header(usages: list[WindowUsage], minute_seconds: float) -> str:
    return ", ".join(
        f'"{u.window}";q={u.limit};w={math.ceil(NOMINAL_SECONDS.get(u.window, minute_seconds))}' for u in usages
    )


def remaining_header(usages: list[WindowUsage]) -> str:
    return ", ".join(f'"{u.window}";r={u.remaining};t={math.ceil(u.resets_in)}' for u in usages)


def limited(usages: list[WindowUsage]) -> list[WindowUsage]:
    """The windows that bind: a tenant share leaves some windows unlimited."""
    return [u for u in usages if u.limit < UNLIMITED]


def tightest(scopes: list[list[WindowUsage]]) -> list[WindowUsage]:
    """Per window (minute, day, month), the scope's window with the fewest images left (on a tie, the later
    reset): what the caller can really use, whether the upstream account or its own share binds."""
    by_window: dict[str, WindowUsage] = {}
    for usage in (u for usages in scopes for u in limited(usages)):
        kept = by_window.get(usage.window)
        if kept is None or (usage.remaining, -usage.resets_in) < (kept.remaining, -kept.resets_in):
            by_window[usage.window] = usage
    return list(by_window.values())


def rate_limit_headers(usages: list[WindowUsage], minute_seconds: float) -> dict[str, str]:
    return {"RateLimit-Policy": policy_header(usages, minute_seconds), "RateLimit": remaining_header(usages)}


def refuse_if_spent(
    usages: list[WindowUsage], images: int, scopes: list[list[WindowUsage]], minute_seconds: float
) -> None:
    """429 when the tenant's day or month share (``usages``) cannot fit the job; a short minute window only
    makes it wait. The answer's RateLimit fields show the tightest windows of all ``scopes``."""
    violated = [u for u in usages if u.window in NOMINAL_SECONDS and u.remaining < images]
    if not violated:
        return
    retry_after = max(math.ceil(max(u.resets_in for u in violated)), 1)
    raise Problem(
        429,
        "quota-exceeded",
        "Your quota is spent",
        f"this job needs {images} images; the {violated[0].window} quota has {violated[0].remaining} left",
        headers={"Retry-After": str(retry_after), **rate_limit_headers(tightest(scopes), minute_seconds)},
        extra={"violated-policies": [u.window for u in violated]},
    )
