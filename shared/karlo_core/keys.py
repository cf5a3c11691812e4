"""Every Redis key karlo-queue uses, in one place, under the ``karloq:`` prefix."""

from __future__ import annotations

PREFIX = "karloq"


def job(job_id: str) -> str:
    """Hash: one job record (status, spec, output, error, timestamps, lease token)."""
    return f"{PREFIX}:job:{job_id}"


def job_deadlines() -> str:
    """Sorted set: active job id -> time by which a worker must have made progress on it."""
    return f"{PREFIX}:jobs:deadlines"
