"""Idempotency keys for job submission, in the manner of Stripe's.

The first request with a key claims it atomically (SET NX) with the SHA-256 of its canonical JSON body and a
token, for a short lease (``KARLOQ_IDEMPOTENCY_LEASE_SECONDS``). The job it makes is recorded under the key in
the same script that creates the job (``lua/job_create.lua``), kept 24 h: a repeat replays that job, whether
the first request answered or its process died right after creating it. A process that dies before creating
the job leaves only the claim, which expires with its lease; until then a repeat learns that the first is still
in flight. A refused request releases its claim, so the caller may fix the request and retry with the same key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import redis

from karlo_core import keys

KEEP_SECONDS = 24 * 3600

#: Deletes a record this token wrote while it is a claim, or names a job that no longer exists (withdrawn);
#: a job that was made keeps answering repeats, whatever went wrong after it was made.
_RELEASE = """
local raw = redis.call('GET', KEYS[1])
if not raw then
  return 0
end
local record = cjson.decode(raw)
if record['token'] ~= ARGV[1] then
  return 0
end
if record['job_id'] and redis.call('EXISTS', ARGV[2] .. record['job_id']) == 1 then
  return 0
end
return redis.call('DEL', KEYS[1])
"""


@dataclass(frozen=True)
class Claimed:
    """This request owns the key: make the job with :meth:`record` in its creation, or :func:`release` it."""

    tenant_id: str
    key: str
    fingerprint: str
    token: str

    @property
    def record_key(self) -> str:
        return keys.idempotency(self.tenant_id, self.key)

    def record(self, job_id: str) -> str:
        """The record the job's creation stores under the key: this job answers every repeat."""
        return json.dumps({"fingerprint": self.fingerprint, "token": self.token, "job_id": job_id})


@dataclass(frozen=True)
class Replay:
    """The key made this job already: answer with it."""

    job_id: str


@dataclass(frozen=True)
class InFlight:
    """The first request with this key has not made its job yet (409)."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used with a different body (422)."""


Outcome = Claimed | Replay | InFlight | Mismatch


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(client: redis.Redis, tenant_id: str, key: str, body: Any, *, lease_seconds: float) -> Outcome:
    record_key = keys.idempotency(tenant_id, key)
    fp = fingerprint(body)
    token = secrets.token_hex(16)
    lease_ms = max(int(lease_seconds * 1000), 1)
    if client.set(record_key, json.dumps({"fingerprint": fp, "token": token}), nx=True, px=lease_ms):
        return Claimed(tenant_id, key, fp, token)
    raw = client.get(record_key)
    if raw is None:  # expired or released between the two calls: try once more
        return claim(client, tenant_id, key, body, lease_seconds=lease_seconds)
    record = json.loads(raw)
    if record["fingerprint"] != fp:
        return Mismatch()
    if "job_id" in record:
        return Replay(record["job_id"])
    if "body" in record:  # a record kept with its whole first answer
        return Replay(record["body"]["id"])
    return InFlight()


def release(client: redis.Redis, claimed: Claimed) -> None:
    """Forget the claim of a request that failed before making its job (or whose job was withdrawn), so a
    retry with the same key may run."""
    client.eval(_RELEASE, 1, claimed.record_key, claimed.token, keys.job(""))
