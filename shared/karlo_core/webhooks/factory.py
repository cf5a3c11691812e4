"""Building the webhook parts from settings, once per process."""

from __future__ import annotations

import httpx
import redis

from karlo_core.netguard import NetGuard, guarded_client, parse_networks
from karlo_core.settings import Settings
from karlo_core.storage import Storage
from karlo_core.webhooks.delivery import Deliverer, RetryPolicy
from karlo_core.webhooks.endpoints import WebhookEndpoints
from karlo_core.webhooks.guards import WebhookGuards
from karlo_core.webhooks.outbox import Outbox
from karlo_core.webhooks.schedule import parse_schedule
from karlo_core.webhooks.sealing import SecretSealer
from karlo_core.webhooks.secrets import SecretStore


def webhook_guard(settings: Settings) -> NetGuard:
    """Receivers must be in public space, unless the operator allows networks (KARLOQ_WEBHOOK_ALLOW_NETWORKS);
    the default of every tenant without networks of its own (see :func:`webhook_guards`)."""
    return NetGuard(
        allow_networks=parse_networks(settings.webhook_allow_networks.split(",")),
        allow_http=settings.webhook_allow_http,
    )


def webhook_guards(settings: Settings, client: redis.Redis) -> WebhookGuards:
    """Each tenant's guard: its own networks set by the operator, else KARLOQ_WEBHOOK_ALLOW_NETWORKS."""
    return WebhookGuards(client, default=webhook_guard(settings))


def secret_store(settings: Settings, client: redis.Redis) -> SecretStore:
    sealer = SecretSealer(settings.webhook_secret_key.get_secret_value())
    return SecretStore(client, grace_seconds=settings.webhook_secret_grace_seconds, sealer=sealer)


def make_deliverer(settings: Settings, client: redis.Redis, storage: Storage) -> Deliverer:
    http = guarded_client(webhook_guard(settings), timeout=httpx.Timeout(settings.webhook_timeout_seconds))
    policy = RetryPolicy(
        schedule=parse_schedule(settings.webhook_retry_schedule),
        jitter=settings.webhook_retry_jitter,
        retry_after_max=settings.webhook_retry_after_max_seconds,
    )
    return Deliverer(
        outbox=Outbox(client),
        endpoints=WebhookEndpoints(client),
        secrets=secret_store(settings, client),
        http=http,
        guards=webhook_guards(settings, client),
        storage=storage,
        policy=policy,
        base_url=settings.public_base_url.rstrip("/"),
        url_ttl=settings.image_url_ttl_seconds,
        # Over an attempt's longest run, and under the dispatch lease, so a re-dispatched lost attempt can proceed.
        attempt_ttl=(settings.webhook_timeout_seconds + settings.webhook_dispatch_lease_seconds) / 2,
    )
