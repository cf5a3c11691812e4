"""Job ids: 26 lower-case Crockford base32 characters, time-ordered (ULID layout)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_job_id(now_ms: int | None = None) -> str:
    """48 bits of milliseconds then 80 random bits, so ids sort by creation time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_job_id(text: str) -> bool:
    return len(text) == 26 and all(c in _ALPHABET for c in text)


def smallest_id_at(ms: int) -> str:
    """The lowest id a job created at ``ms`` can have: ids below it were created earlier."""
    return new_job_id(ms)[:10] + "0" * 16
