"""Checking a webhook receiver URL at the edge, where a caller gives one (a job's ``webhook.url``, a tenant's
default URL): it must pass the tenant's SSRF guard now, and is checked again at every delivery."""

from __future__ import annotations

from karlo_core.errors import BlockedDestination
from karlo_core.netguard import NetGuard


def webhook_url_issues(guard: NetGuard, url: str, field_name: str) -> list[dict[str, str]]:
    """The ``{field, rule, message}`` the URL breaks, or none."""
    try:
        guard.check_url(url)
    except BlockedDestination as exc:
        return [{"field": field_name, "rule": "webhook_url", "message": str(exc)}]
    return []
