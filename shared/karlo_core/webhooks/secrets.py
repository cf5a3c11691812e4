"""Per-tenant signing secrets, with rotation: the new secret signs at once, the old one too until grace ends.

Secrets are needed in clear to sign, so they live in Redis as they are; they are returned to the tenant
only by :meth:`SecretStore.rotate`, and never logged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from karlo_core import keys, lua
from karlo_core.webhooks.signing import new_secret


@dataclass(frozen=True)
class SecretInfo:
    """What a tenant may see of its secrets: no secret material."""

    exists: bool
    created_at: float | None = None
    previous_valid_until: float | None = None


@dataclass(frozen=True)
class Rotated:
    secret: str
    created_at: float
    previous_valid_until: float | None


class SecretStore:
    def __init__(self, client: redis.Redis, *, grace_seconds: float) -> None:
        self._redis = client
        self._grace = grace_seconds
        self._rotate = client.register_script(lua.load("webhook_rotate"))

    def rotate(self, tenant: str) -> Rotated:
        """Create (or replace) the tenant's primary secret; the returned secret is shown once."""
        secret = new_secret()
        created, until = self._rotate(keys=[keys.webhook_secrets(tenant)], args=[secret, self._grace])
        return Rotated(secret, float(created), float(until) if until else None)

    def signing_secrets(self, tenant: str, *, now: float | None = None) -> list[str]:
        """The secrets to sign with now: the primary, and the previous one while its grace period lasts."""
        raw = self._hash(tenant)
        if "primary" not in raw:
            return []
        found = [raw["primary"]]
        if raw.get("previous") and float(raw.get("previous_until", 0)) > (time.time() if now is None else now):
            found.append(raw["previous"])
        return found

    def info(self, tenant: str) -> SecretInfo:
        raw = self._hash(tenant)
        if "primary" not in raw:
            return SecretInfo(exists=False)
        until = float(raw["previous_until"]) if raw.get("previous_until") else None
        return SecretInfo(True, float(raw["created_at"]), until if until and until > time.time() else None)

    def has_secret(self, tenant: str) -> bool:
        return bool(self._redis.hexists(keys.webhook_secrets(tenant), "primary"))

    def _hash(self, tenant: str) -> dict[str, str]:
        raw = self._redis.hgetall(keys.webhook_secrets(tenant))
        return {str(k): str(v) for k, v in raw.items()}
