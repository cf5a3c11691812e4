"""Where a new job's webhook events go: its own ``webhook`` option, else the tenant's default URL."""

from __future__ import annotations

from karlo_api.deps import ApiState
from karlo_api.problems import Problem
from karlo_core.webhooks.events import WebhookOption, events_field


def require_secret(state: ApiState, tenant: str) -> None:
    """409 when events would go out but the tenant has no signing secret to sign them with yet."""
    if not state.webhook_secrets.has_secret(tenant):
        raise Problem(
            409,
            "webhook-secret-missing",
            "No webhook signing secret",
            "create one with POST /v1/webhooks/secret/rotate (it is shown once), then set webhook URLs",
        )


def webhook_target(state: ApiState, tenant: str, option: WebhookOption | None) -> tuple[str | None, str]:
    """(url, event filter) for a new job."""
    url: str | None
    if option is not None:
        url, events = option.url, events_field(option.events)
    else:
        url, events = state.outbox.default_url(tenant), ""
    if url is not None:
        require_secret(state, tenant)
    return url, events
