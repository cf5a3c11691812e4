"""Running one job: claim it, reserve quota (hosted Karlo), call its backend, store the images, settle.

No Celery in here. A backend that runs on this worker's own device (open Karlo) takes no quota: its
capacity is the workers started for it; it reports progress per denoising step and stops between steps
when the job is canceled.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

from karlo_core.backends.base import Backend, GeneratedImage, Generation, GenerationCanceled, Progress, ProgressHook
from karlo_core.backends.catalogue import KARLO, backend_queue
from karlo_core.backoff import backoff_seconds
from karlo_core.errors import KarloQueueError, StorageError, UpstreamError, UpstreamQuotaExceeded, UpstreamUnavailable
from karlo_core.images import NotAnImage, inspect_image
from karlo_core.jobs import Job, JobError, JobProgress, JobStatus, StoredImage
from karlo_core.karlo import rules
from karlo_core.logs import bind_log_fields, log_context
from karlo_core.queue import enqueue_job
from karlo_core.quota.buckets import Denied
from karlo_core.quota.policy import generated_nothing, scopes_for
from karlo_core.storage import image_key
from karlo_worker import job_metrics
from karlo_worker.lease import LeaseKeeper
from karlo_worker.requests import generation_request
from karlo_worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)

STORAGE_ATTEMPTS = 3


def run_job(job_id: str, rt: WorkerRuntime) -> None:
    """Every line logged while the job runs carries its id, tenant and (once known) Karlo's request id."""
    with log_context(job_id=job_id):
        _claim_and_run(job_id, rt)


def _claim_and_run(job_id: str, rt: WorkerRuntime) -> None:
    token = uuid.uuid4().hex
    claim = rt.store.claim(job_id, token, lease_seconds=rt.settings.job_lease_seconds)
    if not claim.claimed:
        log.info("job not claimed", extra={"job_id": job_id, "reason": claim.reason})
        return
    job = rt.store.get(job_id)
    if job is None:
        return
    bind_log_fields(tenant=job.tenant, kind=job.kind.value)
    job_metrics.job_started(job, attempt=claim.attempts)
    log.info("job started", extra={"job_id": job_id, "attempt": claim.attempts, "tenant": job.tenant})
    try:
        with LeaseKeeper(rt.store, job_id, token, lease_seconds=rt.settings.job_lease_seconds):
            _run_claimed(job, token, f"{job_id}:{claim.attempts}", rt)
    except Exception:
        log.exception("job crashed", extra={"job_id": job_id})
        ok = rt.store.fail(job_id, token, JobError("internal_error", "an internal error stopped this job"))
        job_metrics.job_settled(job, JobStatus.FAILED, ok=ok, store=rt.store)


def _run_claimed(job: Job, token: str, reservation_id: str, rt: WorkerRuntime) -> None:
    backend = rt.backends.get(job.backend)
    if backend is None:
        error = JobError("backend_unavailable", f"this worker does not run backend {job.backend}")
        ok = rt.store.fail(job.id, token, error)
        job_metrics.job_settled(job, JobStatus.FAILED, ok=ok, store=rt.store)
        log.error("job reached a worker without its backend", extra={"job_id": job.id, "backend": job.backend})
        return
    if backend.name != KARLO:
        _run_on_device(job, token, backend, rt)
        return
    images_wanted = int(job.input.get("samples", 1))
    decision = rt.quota.reserve(scopes_for(rt.settings, job.tenant), images_wanted, reservation_id)
    if isinstance(decision, Denied):
        job_metrics.quota_denied()
        _wait_or_fail_for_quota(job, token, decision, rt, since=job.quota_wait_since or rt.quota.now())
        return
    job_metrics.quota_granted(job, at=decision.at)
    try:
        outcome = _generate_and_store(job, token, backend, rt)
    except KarloQueueError as exc:
        if generated_nothing(exc) and rt.quota.refund(reservation_id):
            job_metrics.quota_refunded()
            log.info("quota refunded", extra={"job_id": job.id, "images": images_wanted})
        if isinstance(exc, UpstreamQuotaExceeded):
            block = rt.settings.quota_block_seconds
            until = rt.quota.now() + block
            rt.quota.block_until(until)
            log.warning("Karlo reports its quota spent", extra={"job_id": job.id, "upstream_code": exc.code})
            _wait_or_fail_for_quota(job, token, Denied("karlo", "upstream", until), rt, since=until - block)
        else:
            _settle_failure(job, token, exc, rt)
        return
    _settle_outcome(job, token, outcome, rt)


def _run_on_device(job: Job, token: str, backend: Backend, rt: WorkerRuntime) -> None:
    """A backend on this worker's device: no quota; a cancel stops it between denoising steps."""
    try:
        outcome = _generate_and_store(job, token, backend, rt)
    except GenerationCanceled:
        outcome = None
    except KarloQueueError as exc:
        _settle_failure(job, token, exc, rt)
        return
    _settle_outcome(job, token, outcome, rt)


def _settle_outcome(
    job: Job, token: str, outcome: tuple[list[StoredImage], dict[str, Any]] | None, rt: WorkerRuntime
) -> None:
    if outcome is None:
        ok = rt.store.end_canceled(job.id, token)
        job_metrics.job_settled(job, JobStatus.CANCELED, ok=ok, store=rt.store)
        log.info("job canceled while running; its images were not kept", extra={"job_id": job.id})
        return
    images, upstream = outcome
    ok = rt.store.succeed(job.id, token, images, upstream)
    job_metrics.job_settled(job, JobStatus.SUCCEEDED, ok=ok, store=rt.store)
    if ok:
        log.info("job succeeded", extra={"job_id": job.id, "images": len(images)})
    else:
        log.warning("job result discarded: canceled meanwhile, or lease lost", extra={"job_id": job.id})


def _wait_or_fail_for_quota(job: Job, token: str, denied: Denied, rt: WorkerRuntime, *, since: float) -> None:
    extra = {"job_id": job.id, "window": denied.window, "scope": denied.scope}
    if math.isinf(denied.retry_at):
        error = JobError("quota_too_small", f"the job needs more images than the {denied.window} quota allows")
        ok = rt.store.fail(job.id, token, error)
        job_metrics.job_settled(job, JobStatus.FAILED, ok=ok, store=rt.store)
        log.warning("job failed: larger than the quota", extra=extra)
        return
    delay = max(denied.retry_at - rt.quota.now(), 0.0)
    ok = rt.store.wait_for_quota(job.id, token, eta=denied.retry_at, delay=delay, since=since)
    job_metrics.job_settled(job, JobStatus.WAITING_FOR_QUOTA, ok=ok, store=rt.store)
    log.info("job waits for quota", extra={**extra, "delay_seconds": round(delay, 2)})


def _generate_and_store(
    job: Job, token: str, backend: Backend, rt: WorkerRuntime
) -> tuple[list[StoredImage], dict[str, Any]] | None:
    """The stored images and the backend's facts; None when the job was canceled while the backend worked."""
    request = generation_request(job, rt.storage)
    hook = _progress_hook(job.id, token, rt)
    result = job_metrics.upstream_call(
        job, backend.name, backend.endpoint(job.kind), lambda: backend.generate(request, hook)
    )
    bind_log_fields(karlo_request_id=result.request_id)
    if rt.store.cancel_requested(job.id):
        return None
    images = [_store_image(job.id, index, image, rt) for index, image in enumerate(result.images)]
    return images, _upstream_facts(result)


def _progress_hook(job_id: str, token: str, rt: WorkerRuntime) -> ProgressHook:
    """Records each step on the job; stops the backend once a cancel has been requested."""

    def on_progress(progress: Progress) -> None:
        done = JobProgress(step=progress.step, total=progress.total, stage=progress.stage)
        if rt.store.record_progress(job_id, token, done):
            raise GenerationCanceled(f"canceled at step {progress.step} of {progress.total}")

    return on_progress


def _store_image(job_id: str, index: int, image: GeneratedImage, rt: WorkerRuntime) -> StoredImage:
    try:
        info = inspect_image(image.data)
    except NotAnImage as exc:
        raise UpstreamUnavailable(f"the backend returned image {index} that does not decode") from exc
    key = image_key(job_id, index, info.format)
    _put_with_retries(rt, key, image.data, rules.CONTENT_TYPES.get(info.format, "application/octet-stream"))
    job_metrics.image_stored(info.format, len(image.data))
    return StoredImage(
        key=key,
        width=info.width,
        height=info.height,
        format=info.format,
        bytes=len(image.data),
        seed=image.seed,
        nsfw_content_detected=image.nsfw_content_detected,
        nsfw_score=image.nsfw_score,
    )


def _put_with_retries(rt: WorkerRuntime, key: str, data: bytes, content_type: str) -> None:
    """Retry storage here: failing the attempt would make the backend generate (and Karlo charge) them again."""
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            rt.storage.put(key, data, content_type)
            return
        except StorageError:
            if attempt == STORAGE_ATTEMPTS:
                raise
            time.sleep(backoff_seconds(attempt, base=0.5, cap=4.0))


def _upstream_facts(result: Generation) -> dict[str, Any]:
    return {"request_id": result.request_id, "model_version": result.model_version}


def _settle_failure(job: Job, token: str, exc: KarloQueueError, rt: WorkerRuntime) -> None:
    settings = rt.settings
    failures = job.failures + 1
    error = JobError(exc.slug, str(exc), exc.code if isinstance(exc, UpstreamError) else None)
    extra = {"job_id": job.id, "error": exc.slug, "upstream_code": error.upstream_code, "failures": failures}
    if not exc.retryable or failures >= settings.job_max_attempts:
        ok = rt.store.fail(job.id, token, error)
        job_metrics.job_settled(job, JobStatus.FAILED, ok=ok, store=rt.store)
        log.warning("job failed", extra=extra)
        return
    delay = backoff_seconds(failures, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
    deadline = delay + settings.dispatch_grace_seconds
    ok = rt.store.release(job.id, token, next_deadline=deadline, error=error, failures=failures)
    job_metrics.job_settled(job, JobStatus.QUEUED, ok=ok, store=rt.store)
    if not ok:
        return
    log.info("job will retry", extra={**extra, "delay_seconds": round(delay, 2)})
    try:
        enqueue_job(rt.celery, job.id, countdown=delay, queue=backend_queue(job.backend))
    except Exception:  # the sweeper re-dispatches it once its deadline passes
        log.warning("retry not enqueued", extra=extra, exc_info=True)
