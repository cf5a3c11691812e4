"""Re-dispatches jobs whose deadline passed (lost messages, workers that died mid-run: a hosted-Karlo job whose
worker died goes back to its tenant's scheduler queue for a new reservation), finds run-job messages that died
with a worker before it claimed their job, and sends webhook deliveries whose next attempt is due to the webhooks
queue (so a lost message only delays a delivery)."""

from __future__ import annotations

import logging
import time

import redis
from celery import Celery

from karlo_core.backends.catalogue import BACKEND_QUEUES, KARLO, backend_queue
from karlo_core.broker import forget_held, held_messages, jobs_with_messages, jobs_with_messages_near
from karlo_core.jobstore import JobStore
from karlo_core.queue import RUN_JOB_TASK, enqueue_delivery, enqueue_job
from karlo_core.webhooks.outbox import Outbox
from karlo_worker.spool import Spool

log = logging.getLogger(__name__)

BATCH = 200


def sweep_once(store: JobStore, celery: Celery, *, confirm: float, grace: float) -> list[str]:
    """Send due jobs their messages, each to its backend's queue. A taken job is due again ``confirm`` seconds
    on, until its message is confirmed sent (then ``grace``, the last resort): a send that fails (Redis gone)
    loses no job."""
    since = store.now()
    ids = store.due_for_dispatch(limit=BATCH, grace=confirm)
    for job_id, backend in zip(ids, store.backends_of(ids), strict=True):
        if backend == KARLO and _needs_quota_first(store, job_id):
            continue
        enqueue_job(celery, job_id, queue=backend_queue(backend))
        store.dispatched(job_id, grace=grace, since=since)
        log.info("job dispatched", extra={"job_id": job_id})
    return ids


def _needs_quota_first(store: JobStore, job_id: str) -> bool:
    """A hosted-Karlo job runs only on a reservation made for its attempt: one whose worker died goes back to
    its tenant queue (the scheduler hands it out with a new one) rather than getting a message now."""
    job = store.get(job_id)
    images = job.images_wanted if job is not None else 1
    outcome = store.resend_or_requeue(job_id, images=images)
    if outcome == "requeued":
        log.info("job back in its queue for a new reservation", extra={"job_id": job_id})
    return outcome != "send"


def recover_orphans(
    store: JobStore, broker: redis.Redis, *, older_than: float, grace: float | None = None
) -> list[str]:
    """Jobs whose message died with a worker, made due again (the next sweep sends them a new message).

    A live worker claims a job the moment it takes its message, so a run-job message held over ``older_than``
    seconds by a worker while its job was not claimed went down with that worker; held messages no job needs
    are dropped. And a job whose message was sent over ``older_than`` seconds ago, was never claimed since,
    and has no message left at all lost it in the instant between a worker taking it off the queue and
    holding it (kombu's two steps, which a SIGKILL can split). ``grace`` (the last-resort deadline a sent
    message gives its job) narrows that look to jobs sent ``older_than`` ago or more.
    """
    rescheduled = []
    for held in held_messages(broker, delivered_before=time.time() - older_than, limit=BATCH):
        job_id = held.kwargs.get("job_id")
        if held.task != RUN_JOB_TASK or not isinstance(job_id, str):
            continue
        outcome = store.reschedule_if_orphaned(job_id, delivered_at=held.delivered_at)
        if outcome == "running":  # its worker's lease says whether it lives
            continue
        forget_held(broker, held.tag)
        if outcome == "rescheduled":
            rescheduled.append(job_id)
    candidates = store.lost_dispatch_candidates(older_than=older_than, grace=grace, limit=BATCH)
    if candidates:
        missing = _without_messages(broker, {job_id for job_id, _ in candidates})
        for job_id, sent_at in candidates:
            if job_id in missing and store.reschedule_if_orphaned(job_id, delivered_at=sent_at) == "rescheduled":
                rescheduled.append(job_id)
    for job_id in rescheduled:
        log.warning("job lost its message with a worker; rescheduled", extra={"job_id": job_id})
    return rescheduled


def _without_messages(broker: redis.Redis, job_ids: set[str]) -> set[str]:
    """Those of ``job_ids`` that have no message in any backend queue nor held by any worker.

    The jobs looked at are those sent longest ago and still unclaimed, so a message of theirs that still
    waits is among the next to be taken: the oldest end of each queue (twice as many messages as jobs) is read
    first, and the whole queues only when some job's message is not there, so a long queue costs this look no
    more than a short one unless a message is really missing."""
    near = [jobs_with_messages_near(broker, queue, oldest=2 * len(job_ids)) for queue in BACKEND_QUEUES]
    missing = job_ids.difference(*(found.ids for found in near))
    if missing and not all(found.whole for found in near):
        missing = job_ids.difference(*(jobs_with_messages(broker, queue) for queue in BACKEND_QUEUES))
    return missing


def clean_spool(spool: Spool, store: JobStore) -> list[str]:
    """Drop spooled images of jobs that finished or are gone (a worker died after settling, or the job was
    purged), and part files of writes a dying worker left."""
    dropped = []
    for job_id in spool.job_ids():
        job = store.get(job_id)
        if job is None or job.status.is_terminal:
            spool.discard(job_id)
            dropped.append(job_id)
    spool.remove_stale_parts()
    return dropped


def dispatch_deliveries(outbox: Outbox, celery: Celery, *, lease: float) -> list[tuple[str, int]]:
    due = outbox.due(limit=BATCH, lease_seconds=lease)
    for job_id, seq in due:
        enqueue_delivery(celery, job_id, seq)
    return due
