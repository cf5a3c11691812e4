"""Idempotency keys for job submission, in the manner of Stripe's.

The first request with a key claims it atomically (SET NX, in one script with reading the record that holds it
otherwise) with the SHA-256 of its canonical JSON body and a
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
import redis.asyncio as aioredis

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


#: Claims the key when it is free (SET NX with the lease); otherwise answers the record that holds it.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
return redis.call('GET', KEYS[1])
"""


def claim(client: redis.Redis, tenant_id: str, key: str, body: Any, *, lease_seconds: float) -> Outcome:
    new = Claimed(tenant_id, key, fingerprint(body), secrets.token_hex(16))
    held = client.eval(_CLAIM, 1, new.record_key, _claim_record(new), _lease_ms(lease_seconds))
    return _outcome(new, held)


async def claim_async(client: aioredis.Redis, tenant_id: str, key: str, body: Any, *, lease_seconds: float) -> Outcome:
    """:func:`claim` on an asyncio client: one round trip."""
    new = Claimed(tenant_id, key, fingerprint(body), secrets.token_hex(16))
    held = await client.eval(_CLAIM, 1, new.record_key, _claim_record(new), _lease_ms(lease_seconds))
    return _outcome(new, held)


def _claim_record(new: Claimed) -> str:
    return json.dumps({"fingerprint": new.fingerprint, "token": new.token})


def _lease_ms(lease_seconds: float) -> int:
    return max(int(lease_seconds * 1000), 1)


def _outcome(new: Claimed, held: Any) -> Outcome:
    """What the claim script answered: nothing (the key is this request's), or the record holding it."""
    if held is None:
        return new
    record = json.loads(held)
    if record["fingerprint"] != new.fingerprint:
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


async def release_async(client: aioredis.Redis, claimed: Claimed) -> None:
    """:func:`release` on an asyncio client."""
    await client.eval(_RELEASE, 1, claimed.record_key, claimed.token, keys.job(""))
