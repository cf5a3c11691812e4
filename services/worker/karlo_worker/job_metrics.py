"""What the pipeline counts: job starts and ends, quota decisions, backend calls and stored images."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from karlo_core import metrics
from karlo_core.backends.base import Generation, GenerationCanceled
from karlo_core.errors import (
    KarloQueueError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamQuotaExceeded,
    UpstreamRejected,
    UpstreamUnavailable,
)
from karlo_core.jobs import Job, JobStatus
from karlo_core.karlo.client import AUTH_CODES, QUOTA_CODES, REJECTED_CODES, TRANSIENT_CODES

G = TypeVar("G", bound=Generation)

#: Karlo codes that get their own label value; anything else is "other", so the label set stays bounded.
KNOWN_CODES = AUTH_CODES | QUOTA_CODES | REJECTED_CODES | TRANSIENT_CODES
_OUTCOMES: tuple[tuple[type[KarloQueueError], str], ...] = (
    (GenerationCanceled, "canceled"),
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


def quota_granted(job: Job, *, now: Callable[[], float]) -> None:
    """The wait for quota ends now (the quota clock, read only for a job that waited: one round trip)."""
    metrics.QUOTA_RESERVATIONS.labels("granted").inc()
    if job.quota_wait_since is not None:
        metrics.JOB_QUOTA_WAIT_SECONDS.labels(job.kind.value).observe(max(now() - job.quota_wait_since, 0.0))


def quota_denied() -> None:
    metrics.QUOTA_RESERVATIONS.labels("denied").inc()


def quota_refunded() -> None:
    metrics.QUOTA_RESERVATIONS.labels("refunded").inc()


def image_stored(image_format: str, size: int) -> None:
    metrics.IMAGES_STORED.labels(image_format).inc()
    metrics.IMAGE_BYTES_STORED.labels(image_format).inc(size)


def upstream_call(job: Job, backend: str, endpoint: str, call: Callable[[], G]) -> G:
    """Run one backend call, timing it (in all and per image) and counting it by endpoint, outcome class and
    Karlo's code."""
    started = time.perf_counter()
    try:
        result = call()
    except KarloQueueError as exc:
        code = exc.code if isinstance(exc, UpstreamError) else None
        metrics.UPSTREAM_CALLS.labels(endpoint, _outcome(exc), _code(code)).inc()
        raise
    finally:
        metrics.JOB_UPSTREAM_SECONDS.labels(job.kind.value).observe(time.perf_counter() - started)
    metrics.UPSTREAM_CALLS.labels(endpoint, "ok", "none").inc()
    if result.images:
        metrics.BACKEND_IMAGE_SECONDS.labels(backend).observe((time.perf_counter() - started) / len(result.images))
    return result


def _outcome(exc: KarloQueueError) -> str:
    return next((name for cls, name in _OUTCOMES if isinstance(exc, cls)), "error")


def _code(code: int | None) -> str:
    if code is None:
        return "none"
    return str(code) if code in KNOWN_CODES else "other"
