"""Per-tenant signing secrets, with rotation: the new secret signs at once, the old one too until grace ends.

Secrets are needed in clear to sign, so Redis keeps them sealed (see ``sealing``) under a key from settings;
they are returned to the tenant only by :meth:`SecretStore.rotate`, and never logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from karlo_core import keys, lua
from karlo_core.webhooks.sealing import SecretSealer, UnreadableSecret, is_clear
from karlo_core.webhooks.signing import new_secret

log = logging.getLogger(__name__)

#: The fields of a tenant's secrets hash that hold a secret.
SECRET_FIELDS = ("primary", "previous")


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
    def __init__(self, client: redis.Redis, *, grace_seconds: float, sealer: SecretSealer) -> None:
        self._redis = client
        self._grace = grace_seconds
        self._sealer = sealer
        self._rotate = client.register_script(lua.load("webhook_rotate"))
        self._seal = client.register_script(lua.load("webhook_seal"))

    def rotate(self, tenant: str) -> Rotated:
        """Create (or replace) the tenant's primary secret; the returned secret is shown once."""
        secret = new_secret()
        sealed = self._sealer.seal(secret, tenant=tenant)
        created, until = self._rotate(keys=[keys.webhook_secrets(tenant)], args=[sealed, self._grace])
        return Rotated(secret, float(created), float(until) if until else None)

    def signing_secrets(self, tenant: str, *, now: float | None = None) -> list[str]:
        """The secrets to sign with now: the primary, and the previous one while its grace period lasts."""
        raw = self._hash(tenant)
        if "primary" not in raw:
            return []
        if any(is_clear(raw.get(name, "")) for name in SECRET_FIELDS):
            self._seal_clear(tenant, raw)
        stored = [raw["primary"]]
        if raw.get("previous") and float(raw.get("previous_until", 0)) > (time.time() if now is None else now):
            stored.append(raw["previous"])
        found = []
        for value in stored:
            try:
                found.append(self._sealer.open(value, tenant=tenant))
            except UnreadableSecret as exc:
                log.error("webhook signing secret unreadable", extra={"tenant": tenant, "error": str(exc)})
        return found

    def seal_all(self, tenants: list[str]) -> int:
        """Seal every clear secret left from before sealing; how many were sealed."""
        return sum(self._seal_clear(tenant, self._hash(tenant)) for tenant in tenants)

    def info(self, tenant: str) -> SecretInfo:
        raw = self._hash(tenant)
        if "primary" not in raw:
            return SecretInfo(exists=False)
        until = float(raw["previous_until"]) if raw.get("previous_until") else None
        return SecretInfo(True, float(raw["created_at"]), until if until and until > time.time() else None)

    def has_secret(self, tenant: str) -> bool:
        return bool(self._redis.hexists(keys.webhook_secrets(tenant), "primary"))

    def _seal_clear(self, tenant: str, raw: dict[str, str]) -> int:
        args: list[str] = []
        for name in SECRET_FIELDS:
            if is_clear(raw.get(name, "")):
                args += [name, raw[name], self._sealer.seal(raw[name], tenant=tenant)]
        return int(self._seal(keys=[keys.webhook_secrets(tenant)], args=args)) if args else 0

    def _hash(self, tenant: str) -> dict[str, str]:
        raw = self._redis.hgetall(keys.webhook_secrets(tenant))
        return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
