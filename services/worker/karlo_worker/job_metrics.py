"""What the pipeline counts: job starts and ends, quota decisions, Karlo calls and stored images."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from karlo_core import metrics
from karlo_core.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamQuotaExceeded,
    UpstreamRejected,
    UpstreamUnavailable,
)
from karlo_core.jobs import Job, JobStatus
from karlo_core.karlo.client import AUTH_CODES, QUOTA_CODES, REJECTED_CODES, TRANSIENT_CODES

T = TypeVar("T")

#: Karlo codes that get their own label value; anything else is "other", so the label set stays bounded.
KNOWN_CODES = AUTH_CODES | QUOTA_CODES | REJECTED_CODES | TRANSIENT_CODES
_OUTCOMES: tuple[tuple[type[UpstreamError], str], ...] = (
    (UpstreamRejected, "rejected"),
    (UpstreamAuthError, "auth"),
    (UpstreamQuotaExceeded, "quota"),
    (UpstreamUnavailable, "unavailable"),
)


def job_started(job: Job, *, attempt: int) -> None:
    """The first claim ends the job's time in the queue (``started_at`` is set by that claim)."""
    if attempt == 1 and job.started_at is not None:
        metrics.JOB_QUEUED_SECONDS.labels(job.kind.value).observe(max(job.started_at - job.created_at, 0.0))


def job_finished(job: Job, outcome: JobStatus) -> None:
    metrics.observe_job_finished(job.kind.value, outcome.value, created_at=job.created_at)


def quota_granted(job: Job, *, at: float) -> None:
    metrics.QUOTA_RESERVATIONS.labels("granted").inc()
    if job.quota_wait_since is not None:
        metrics.JOB_QUOTA_WAIT_SECONDS.labels(job.kind.value).observe(max(at - job.quota_wait_since, 0.0))


def quota_denied() -> None:
    metrics.QUOTA_RESERVATIONS.labels("denied").inc()


def quota_refunded() -> None:
    metrics.QUOTA_RESERVATIONS.labels("refunded").inc()


def image_stored(image_format: str, size: int) -> None:
    metrics.IMAGES_STORED.labels(image_format).inc()
    metrics.IMAGE_BYTES_STORED.labels(image_format).inc(size)


def upstream_call(job: Job, path: str, call: Callable[[], T]) -> T:
    """Run one Karlo call, timing it and counting it by endpoint, outcome class and Karlo's code."""
    endpoint = path.rstrip("/").rsplit("/", 1)[-1]
    started = time.perf_counter()
    try:
        result = call()
    except UpstreamError as exc:
        metrics.UPSTREAM_CALLS.labels(endpoint, _outcome(exc), _code(exc.code)).inc()
        raise
    finally:
        metrics.JOB_UPSTREAM_SECONDS.labels(job.kind.value).observe(time.perf_counter() - started)
    metrics.UPSTREAM_CALLS.labels(endpoint, "ok", "none").inc()
    return result


def _outcome(exc: UpstreamError) -> str:
    return next((name for cls, name in _OUTCOMES if isinstance(exc, cls)), "error")


def _code(code: int | None) -> str:
    if code is None:
        return "none"
    return str(code) if code in KNOWN_CODES else "other"
