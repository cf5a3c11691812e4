"""Tenants and their API keys, kept in Redis.

A key reads ``kq_<key id>_<secret>``. Only the key id (for lookup) and the SHA-256 of the whole key are
stored, so a key is shown once, when issued, and a leaked Redis dump does not leak usable keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from karlo_core import keys

KEY_PREFIX = "kq"


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    tenant_id: str
    secret_key: str


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_tenant(client: redis.Redis, name: str) -> str:
    """Create a tenant named ``name`` and return its new id."""
    tenant_id = "t_" + secrets.token_hex(8)
    pipe = client.pipeline()
    pipe.hset(keys.tenant(tenant_id), mapping={"name": name, "created_at": str(time.time())})
    pipe.sadd(keys.tenants(), tenant_id)
    pipe.execute()
    return tenant_id


def issue_key(client: redis.Redis, tenant_id: str) -> IssuedKey:
    """Issue a new key for an existing tenant; the returned secret is the only copy."""
    if not client.sismember(keys.tenants(), tenant_id):
        raise KeyError(tenant_id)
    key_id = secrets.token_hex(6)
    secret_key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    pipe = client.pipeline()
    pipe.hset(keys.api_key(key_id), mapping={"tenant": tenant_id, "sha256": _digest(secret_key), "revoked": "0"})
    pipe.sadd(keys.tenant_api_keys(tenant_id), key_id)
    pipe.execute()
    return IssuedKey(key_id=key_id, tenant_id=tenant_id, secret_key=secret_key)


def revoke_key(client: redis.Redis, key_id: str) -> bool:
    """Revoke a key; False when no such key exists."""
    if not client.exists(keys.api_key(key_id)):
        return False
    client.hset(keys.api_key(key_id), "revoked", "1")
    return True


def authenticate(client: redis.Redis, api_key: str) -> str | None:
    """The tenant id owning ``api_key``, or None when it is malformed, unknown or revoked."""
    key_id = _key_id(api_key)
    if key_id is None:
        return None
    return _tenant_of(client.hgetall(keys.api_key(key_id)), api_key)


async def authenticate_async(client: aioredis.Redis, api_key: str) -> str | None:
    """:func:`authenticate` on an asyncio client."""
    key_id = _key_id(api_key)
    if key_id is None:
        return None
    return _tenant_of(await client.hgetall(keys.api_key(key_id)), api_key)


def _key_id(api_key: str) -> str | None:
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    return parts[1]


def _tenant_of(raw: dict[bytes | str, bytes | str], api_key: str) -> str | None:
    record = {_text(k): _text(v) for k, v in raw.items()}
    if not record or record.get("revoked") == "1":
        return None
    if not hmac.compare_digest(record.get("sha256", ""), _digest(api_key)):
        return None
    return record.get("tenant")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
