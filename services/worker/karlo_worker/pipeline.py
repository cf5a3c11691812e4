"""Running one job: claim it, reserve quota, call Karlo, spool and store the images, settle. No Celery in here."""

from __future__ import annotations

import logging
import math
import uuid

import redis

from karlo_core.backoff import backoff_seconds
from karlo_core.errors import KarloQueueError, StorageError, UpstreamError, UpstreamQuotaExceeded
from karlo_core.jobs import Job, JobError, JobStatus
from karlo_core.logs import bind_log_fields, log_context
from karlo_core.quota.buckets import Denied
from karlo_core.quota.policy import generated_nothing, scopes_for
from karlo_worker import job_metrics
from karlo_worker.lease import LeaseKeeper
from karlo_worker.requests import karlo_request
from karlo_worker.runtime import WorkerRuntime
from karlo_worker.spool import Generated
from karlo_worker.storing import generated_from, store_generated

log = logging.getLogger(__name__)


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
    except (redis.ConnectionError, redis.TimeoutError):  # the job store is unreachable: the lease runs out,
        raise  # and the job runs again (from the spool, if Karlo answered)
    except Exception:
        log.exception("job crashed", extra={"job_id": job_id})
        ok = rt.store.fail(job_id, token, JobError("internal_error", "an internal error stopped this job"))
        job_metrics.job_settled(job, JobStatus.FAILED, ok=ok, store=rt.store)


def _run_claimed(job: Job, token: str, reservation_id: str, rt: WorkerRuntime) -> None:
    kept = rt.spool.load(job.id)
    if kept is not None:  # Karlo answered an earlier attempt whose worker died before settling: no new call
        log.info("storing images Karlo made in an earlier attempt", extra={"job_id": job.id})
        _store_and_settle(job, token, kept, rt)
        return
    images_wanted = int(job.input.get("samples", 1))
    decision = rt.quota.reserve(scopes_for(rt.settings, job.tenant), images_wanted, reservation_id)
    if isinstance(decision, Denied):
        job_metrics.quota_denied()
        _wait_or_fail_for_quota(job, token, decision, rt, since=job.quota_wait_since or rt.quota.now())
        return
    job_metrics.quota_granted(job, at=decision.at)
    try:
        generated = _generate(job, rt)
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
    if generated is None:
        ok = rt.store.end_canceled(job.id, token)
        job_metrics.job_settled(job, JobStatus.CANCELED, ok=ok, store=rt.store)
        log.info("job canceled while running; its images were not kept", extra={"job_id": job.id})
        return
    _store_and_settle(job, token, generated, rt)


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


def _generate(job: Job, rt: WorkerRuntime) -> Generated | None:
    """Karlo's images, spooled before anything else can fail; None when the job was canceled meanwhile."""
    path, body = karlo_request(job, rt.storage)
    result = job_metrics.upstream_call(job, path, lambda: rt.karlo.infer(path, body))
    bind_log_fields(karlo_request_id=result.request_id)
    if rt.store.cancel_requested(job.id):
        return None
    generated = generated_from(result)
    rt.spool.keep(job.id, generated)
    return generated


def _store_and_settle(job: Job, token: str, generated: Generated, rt: WorkerRuntime) -> None:
    """Store Karlo's images (waiting out a storage outage) and settle; the spool goes once the job settled."""
    try:
        images = store_generated(job.id, generated, rt)
    except StorageError as exc:
        ok = rt.store.fail(job.id, token, JobError(exc.slug, f"the image store did not take the images: {exc}"))
        job_metrics.job_settled(job, JobStatus.FAILED, ok=ok, store=rt.store)
        log.error("job failed: storage deadline passed, Karlo's images dropped", extra={"job_id": job.id})
    else:
        if images is None:
            ok = rt.store.end_canceled(job.id, token)
            job_metrics.job_settled(job, JobStatus.CANCELED, ok=ok, store=rt.store)
            log.info("job canceled while storage was down; its images were not kept", extra={"job_id": job.id})
        else:
            ok = rt.store.succeed(job.id, token, images, generated.upstream)
            job_metrics.job_settled(job, JobStatus.SUCCEEDED, ok=ok, store=rt.store)
            if ok:
                log.info("job succeeded", extra={"job_id": job.id, "images": len(images)})
            else:
                log.warning("job result discarded: canceled meanwhile, or lease lost", extra={"job_id": job.id})
    if ok:  # a lost lease means another worker holds the job, and may be reading the spool
        rt.spool.discard(job.id)


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
    ok = rt.store.release(job.id, token, next_deadline=delay, error=error, failures=failures)
    job_metrics.job_settled(job, JobStatus.QUEUED, ok=ok, store=rt.store)
    if ok:  # the sweeper sends its message once the delay is over
        log.info("job will retry", extra={**extra, "delay_seconds": round(delay, 2)})
