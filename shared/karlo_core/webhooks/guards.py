"""The SSRF guard for each tenant's webhook receivers.

An operator may let one tenant's receivers reach private networks (its own VPC, say) without opening them to
every tenant: the networks set for a tenant (``python -m karlo_api.admin set-webhook-networks``) replace the
global KARLOQ_WEBHOOK_ALLOW_NETWORKS for that tenant; a tenant with none set gets the global ones. Public
space is always allowed, private space only as listed.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from karlo_core import keys
from karlo_core.netguard import IPNetwork, NetGuard, parse_networks

#: Field of the tenant's webhook settings holding its networks (comma-separated CIDRs; empty: public space only).
NETWORKS_FIELD = "webhook_allow_networks"


class WebhookGuards:
    def __init__(self, client: redis.Redis, *, default: NetGuard) -> None:
        self._redis = client
        self._default = default

    def for_tenant(self, tenant: str) -> NetGuard:
        own = self.networks(tenant)
        return self._default if own is None else self._default.with_networks(own)

    def networks(self, tenant: str) -> list[IPNetwork] | None:
        """The tenant's own networks; None when it has none set and the global default applies."""
        raw = self._redis.hget(keys.webhook_config(tenant), NETWORKS_FIELD)
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return parse_networks(text.split(","))

    def set_networks(self, tenant: str, networks: Sequence[IPNetwork] | None) -> None:
        """Give the tenant these networks (an empty list: public space only); None: back to the default."""
        if networks is None:
            self._redis.hdel(keys.webhook_config(tenant), NETWORKS_FIELD)
        else:
            self._redis.hset(keys.webhook_config(tenant), NETWORKS_FIELD, ",".join(str(n) for n in networks))
