"""Running one job: claim it, take the quota reservation the scheduler made when it handed the job out (hosted
Karlo), call its backend, spool and store the images, settle. No Celery in here.

A hosted-Karlo attempt runs only on a reservation made for it: an attempt without one (a retry after its backoff,
a message resent after a worker died) goes back to the head of its tenant's scheduler queue, as does a job
Karlo refuses with -10 (its reservation refunded), so quota is taken in the scheduler's order, never by a race.

A backend that runs on this worker's own device (open Karlo) takes no quota: its capacity is the workers started
for it; it reports progress per denoising step and stops between steps when the job is canceled.

Every settle goes through :func:`_settle`, which counts and logs its outcome as the job store reports it
(settled, canceled instead, lease lost). A run tells its caller (:class:`Ran`) whether its settle may have freed
capacity, so the dispatch step after it is skipped when it could hand out nothing new.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from karlo_core.backends.base import Backend, GenerationCanceled, Progress, ProgressHook
from karlo_core.backends.catalogue import KARLO
from karlo_core.backoff import backoff_seconds
from karlo_core.errors import KarloQueueError, StorageError, UpstreamError, UpstreamQuotaExceeded
from karlo_core.jobs import Job, JobError, JobProgress, JobStatus
from karlo_core.jobstore import Claim, Restamp, SettleOutcome
from karlo_core.logs import bind_log_fields, log_context
from karlo_core.quota.policy import generated_nothing
from karlo_worker import job_metrics
from karlo_worker.requests import generation_request
from karlo_worker.runtime import WorkerRuntime
from karlo_worker.spool import Generated
from karlo_worker.storing import drop_stored, store_generated, take_generation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ran:
    """What a run leaves for the dispatcher: the job's backend (None when no job was claimed), and whether its
    settle may have freed capacity or queued work (a local backend's slot, refunded quota, the job back in its
    tenant queue). Only a hosted-Karlo job that succeeded frees nothing: its quota stays spent."""

    backend: str | None
    freed: bool


def run_job(job_id: str, rt: WorkerRuntime) -> Ran:
    """Every line logged while the job runs carries its id, tenant and (once known) Karlo's request id."""
    with log_context(job_id=job_id):
        return _claim_and_run(job_id, rt)


def _claim_and_run(job_id: str, rt: WorkerRuntime) -> Ran:
    token = uuid.uuid4().hex
    restamp = Restamp(rt.quota.minute_seconds, rt.quota.override)
    claim = rt.store.claim(job_id, token, lease_seconds=rt.settings.job_lease_seconds, restamp=restamp)
    job = claim.job
    if job is None:
        log.info("job not claimed", extra={"job_id": job_id, "reason": claim.reason})
        return Ran(None, freed=True)
    bind_log_fields(tenant=job.tenant, kind=job.kind.value)
    job_metrics.job_started(job, attempt=claim.attempts)
    log.info("job started", extra={"job_id": job_id, "attempt": claim.attempts, "tenant": job.tenant})
    try:
        with rt.leases.hold(job_id, token):
            succeeded = _run_claimed(job, token, claim, rt)
    except (redis.ConnectionError, redis.TimeoutError):  # the job store is unreachable: the lease runs out,
        raise  # and the job runs again (from the spool, if Karlo answered)
    except Exception:
        log.exception("job crashed", extra={"job_id": job_id})
        error = JobError("internal_error", "an internal error stopped this job")
        _settle(job, JobStatus.FAILED, rt.store.fail(job_id, token, error), "job failed after a crash")
        succeeded = False
    return Ran(job.backend, freed=job.backend != KARLO or not succeeded)


def _run_claimed(job: Job, token: str, claim: Claim, rt: WorkerRuntime) -> bool:
    """Run the claimed job to its settle; whether it settled as succeeded. The claim restamped the reservation
    made for this attempt, if there is one."""
    attempt = claim.attempts
    backend = rt.backends.get(job.backend)
    if backend is None:
        error = JobError("backend_unavailable", f"this worker does not run backend {job.backend}")
        failed = rt.store.fail(job.id, token, error)
        message = "job reached a worker without its backend"
        _settle(job, JobStatus.FAILED, failed, message, {"backend": job.backend}, level=logging.ERROR)
        return False
    kept = rt.spool.load(job.id)
    if kept is not None:  # the backend answered an earlier attempt whose worker died before settling: no new call
        log.info("storing images made in an earlier attempt", extra={"job_id": job.id})
        return _store_and_settle(job, token, kept, rt)
    if backend.name != KARLO:
        return _run_on_device(job, token, backend, rt)
    images_wanted = job.images_wanted
    if job.quota_denied is not None:
        error = JobError("quota_too_small", f"the job needs more images than the {job.quota_denied} quota allows")
        failed = rt.store.fail(job.id, token, error)
        _settle(job, JobStatus.FAILED, failed, "job failed: larger than the quota", level=logging.WARNING)
        return False
    reservation_id = job.reservation
    if reservation_id is not None and job.reservation_attempt == attempt and not claim.restamped:
        rt.quota.refund(reservation_id)  # handed out over a window ago: its room in that window is gone unused
        reservation_id = None
    if reservation_id is None or job.reservation_attempt != attempt:
        requeued = rt.store.requeue(job.id, token, status=JobStatus.QUEUED, images=images_wanted)
        _settle(job, JobStatus.QUEUED, requeued, "job back in its queue for a reservation of its own")
        return False
    job_metrics.quota_granted(job, now=rt.quota.now)
    try:
        generated = _generate(job, token, backend, rt)
    except KarloQueueError as exc:
        if generated_nothing(exc) and rt.quota.refund(reservation_id):
            job_metrics.quota_refunded()
            log.info("quota refunded", extra={"job_id": job.id, "images": images_wanted})
        if isinstance(exc, UpstreamQuotaExceeded):
            rt.quota.block_until(rt.quota.now() + rt.settings.quota_block_seconds)
            log.warning("Karlo reports its quota spent", extra={"job_id": job.id, "upstream_code": exc.code})
            waiting = rt.store.requeue(job.id, token, status=JobStatus.WAITING_FOR_QUOTA, images=images_wanted)
            _settle(job, JobStatus.WAITING_FOR_QUOTA, waiting, "job back at the head of its queue: Karlo's quota spent")
        else:
            _settle_failure(job, token, exc, rt)
        return False
    return _store_unless_canceled(job, token, generated, rt)


def _run_on_device(job: Job, token: str, backend: Backend, rt: WorkerRuntime) -> bool:
    """A backend on this worker's device: no quota; a cancel stops it between denoising steps."""
    try:
        generated = _generate(job, token, backend, rt)
    except GenerationCanceled:
        generated = None
    except KarloQueueError as exc:
        _settle_failure(job, token, exc, rt)
        return False
    return _store_unless_canceled(job, token, generated, rt)


def _store_unless_canceled(job: Job, token: str, generated: Generated | None, rt: WorkerRuntime) -> bool:
    if generated is None:
        canceled = rt.store.end_canceled(job.id, token)
        _settle(job, JobStatus.CANCELED, canceled, "job canceled while running; its images were not kept")
        return False
    return _store_and_settle(job, token, generated, rt)


def _settle(
    job: Job,
    status: JobStatus,
    outcome: SettleOutcome,
    message: str,
    extra: dict[str, Any] | None = None,
    *,
    level: int = logging.INFO,
) -> SettleOutcome:
    """Count and log how settling the job to ``status`` ended, and return the outcome.

    A cancel that arrived while the job ran ends it canceled instead (what the attempt made is dropped); a lost
    lease means another worker has the job, and nothing of this attempt is kept.
    """
    fields = {"job_id": job.id, **(extra or {})}
    if outcome is SettleOutcome.SETTLED or (outcome is SettleOutcome.CANCELED and status is JobStatus.CANCELED):
        if status.is_terminal:
            job_metrics.job_finished(job, status)
        log.log(level, message, extra=fields)
    elif outcome is SettleOutcome.CANCELED:
        job_metrics.job_finished(job, JobStatus.CANCELED)
        log.info("job canceled while running; this attempt's outcome was dropped", extra=fields)
    else:
        log.warning("lease lost; this attempt's outcome was not kept", extra=fields)
    return outcome


def _generate(job: Job, token: str, backend: Backend, rt: WorkerRuntime) -> Generated | None:
    """The backend's images, spooled before anything else can fail; None when the job was canceled meanwhile."""
    request = generation_request(job, rt.storage)
    hook = _progress_hook(job.id, token, rt)
    result = job_metrics.upstream_call(
        job, backend.name, backend.endpoint(job.kind), lambda: backend.generate(request, hook)
    )
    bind_log_fields(karlo_request_id=result.request_id)
    if rt.leases.cancel_requested(token):  # known from the lease's last extension; one that came since is found
        return None  # by the settle, which then drops what was stored
    return take_generation(job.id, result, rt)


def _progress_hook(job_id: str, token: str, rt: WorkerRuntime) -> ProgressHook:
    """Records each step on the job; stops the backend once a cancel has been requested."""

    def on_progress(progress: Progress) -> None:
        done = JobProgress(step=progress.step, total=progress.total, stage=progress.stage)
        if rt.store.record_progress(job_id, token, done):
            raise GenerationCanceled(f"canceled at step {progress.step} of {progress.total}")

    return on_progress


def _store_and_settle(job: Job, token: str, generated: Generated, rt: WorkerRuntime) -> bool:
    """Store the backend's images (waiting out a storage outage) and settle; the spool goes once the job settled.
    Whether it settled as succeeded."""
    succeeded = False
    try:
        images = store_generated(job.id, token, generated, rt)
    except StorageError as exc:
        error = JobError(exc.slug, f"the image store did not take the images: {exc}")
        message = "job failed: storage deadline passed, the generated images dropped"
        outcome = _settle(job, JobStatus.FAILED, rt.store.fail(job.id, token, error), message, level=logging.ERROR)
    else:
        if images is None:
            message = "job canceled while storage was down; its images were not kept"
            outcome = _settle(job, JobStatus.CANCELED, rt.store.end_canceled(job.id, token), message)
        else:
            settled = rt.store.succeed(job.id, token, images, generated.upstream)
            outcome = _settle(job, JobStatus.SUCCEEDED, settled, "job succeeded", {"images": len(images)})
            if outcome is SettleOutcome.CANCELED:  # canceled after the lease last looked: not kept
                drop_stored(images, rt)
            succeeded = outcome is SettleOutcome.SETTLED
    if outcome is SettleOutcome.SETTLED:  # a lost lease means another worker holds the job, and may be reading
        rt.spool.discard(job.id, generated)  # the spool
    return succeeded


def _settle_failure(job: Job, token: str, exc: KarloQueueError, rt: WorkerRuntime) -> None:
    settings = rt.settings
    failures = job.failures + 1
    error = JobError(exc.slug, str(exc), exc.code if isinstance(exc, UpstreamError) else None)
    extra: dict[str, Any] = {"error": exc.slug, "upstream_code": error.upstream_code, "failures": failures}
    if not exc.retryable or failures >= settings.job_max_attempts:
        _settle(job, JobStatus.FAILED, rt.store.fail(job.id, token, error), "job failed", extra, level=logging.WARNING)
        return
    delay = backoff_seconds(failures, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
    if job.backend == KARLO:  # its next attempt needs quota: back in its queue, handed out after the backoff
        images = job.images_wanted
        released = rt.store.requeue(
            job.id, token, status=JobStatus.QUEUED, images=images, delay=delay, error=error, failures=failures
        )
    else:
        released = rt.store.release(job.id, token, next_deadline=delay, error=error, failures=failures)
    extra["delay_seconds"] = round(delay, 2)  # the sweeper sends its message once the delay is over
    _settle(job, JobStatus.QUEUED, released, "job will retry", extra)
