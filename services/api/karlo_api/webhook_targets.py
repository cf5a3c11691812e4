"""Where a new job's webhook events go: its own ``webhook`` option, else the tenant's default URL."""

from __future__ import annotations

from karlo_api.deps import ApiState
from karlo_core.errors import WebhookSecretMissing
from karlo_core.webhooks.endpoints import WebhookDefault
from karlo_core.webhooks.events import WebhookOption, events_field


def require_secret(state: ApiState, tenant: str) -> None:
    """WebhookSecretMissing (a 409) when events would go out but the tenant has no signing secret yet."""
    if not state.webhook_secrets.has_secret(tenant):
        raise WebhookSecretMissing(tenant)


def webhook_target(state: ApiState, tenant: str, option: WebhookOption | None) -> tuple[str | None, str]:
    """(url, event filter) for a new job, read from Redis now."""
    default = WebhookDefault(state.webhook_endpoints.default_url(tenant), state.webhook_secrets.has_secret(tenant))
    return pick_target(tenant, option, default)


def pick_target(tenant: str, option: WebhookOption | None, default: WebhookDefault) -> tuple[str | None, str]:
    """(url, event filter) for a new job: its own ``webhook`` option, else the tenant's default; a URL needs
    a signing secret (WebhookSecretMissing, a 409, otherwise)."""
    url: str | None
    if option is not None:
        url, events = option.url, events_field(option.events)
    else:
        url, events = default.url, ""
    if url is not None and not default.has_secret:
        raise WebhookSecretMissing(tenant)
    return url, events
