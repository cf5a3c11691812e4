"""Idempotency keys for job submission, in the manner of Stripe's.

The first request with a key claims it atomically (SET NX with a TTL) with the SHA-256 of its canonical JSON
body and an in-flight marker; when it finishes, its answer replaces the marker. A later request with the same
key replays that answer, or learns that the first is still in flight, or that its body differs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import redis

from karlo_core import keys

KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Claimed:
    """This request owns the key: do the work, then :func:`complete` (or :func:`release` on failure)."""


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InFlight:
    """The first request with this key has not answered yet (409)."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used with a different body (422)."""


Outcome = Claimed | Replay | InFlight | Mismatch


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(client: redis.Redis, tenant_id: str, key: str, body: Any) -> Outcome:
    record_key = keys.idempotency(tenant_id, key)
    fp = fingerprint(body)
    if client.set(record_key, json.dumps({"fingerprint": fp}), nx=True, ex=KEEP_SECONDS):
        return Claimed()
    raw = client.get(record_key)
    if raw is None:  # expired or released between the two calls: try once more
        return claim(client, tenant_id, key, body)
    record = json.loads(raw)
    if record["fingerprint"] != fp:
        return Mismatch()
    if "status_code" not in record:
        return InFlight()
    return Replay(status_code=record["status_code"], body=record["body"], headers=record.get("headers", {}))


def complete(
    client: redis.Redis,
    tenant_id: str,
    key: str,
    body: Any,
    status_code: int,
    answer: Any,
    headers: dict[str, str] | None = None,
) -> None:
    """Keep the first answer (status, body and the headers worth replaying) for the rest of the key's life."""
    record = {"fingerprint": fingerprint(body), "status_code": status_code, "body": answer, "headers": headers or {}}
    client.set(keys.idempotency(tenant_id, key), json.dumps(record), xx=True, keepttl=True)


def release(client: redis.Redis, tenant_id: str, key: str) -> None:
    """Forget a claim whose request failed before answering, so a retry may run."""
    client.delete(keys.idempotency(tenant_id, key))
