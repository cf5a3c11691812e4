"""Re-dispatches jobs whose deadline passed (retries and quota waits that are over, lost messages, workers
that died mid-run), finds run-job messages that died with a worker before it claimed their job, and sends
webhook deliveries whose next attempt is due to the webhooks queue (so a lost message only delays a delivery)."""

from __future__ import annotations

import logging
import time

import redis
from celery import Celery

from karlo_core.broker import forget_held, held_messages
from karlo_core.jobstore import JobStore
from karlo_core.queue import RUN_JOB_TASK, enqueue_delivery, enqueue_job
from karlo_core.webhooks.outbox import Outbox
from karlo_worker.spool import Spool

log = logging.getLogger(__name__)

BATCH = 200


def sweep_once(store: JobStore, celery: Celery, *, grace: float) -> list[str]:
    ids = store.due_for_dispatch(limit=BATCH, grace=grace)
    for job_id in ids:
        enqueue_job(celery, job_id)
        log.info("job re-dispatched", extra={"job_id": job_id})
    return ids


def recover_orphans(store: JobStore, broker: redis.Redis, *, older_than: float) -> list[str]:
    """Run-job messages a worker took over ``older_than`` seconds ago and still holds: a live worker claims
    its job at once, so a queued job not claimed since lost its message with a worker that died. Such jobs
    are made due (the next sweep sends them a new message); held messages no job needs are dropped."""
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
            log.warning("job lost its message with a worker; rescheduled", extra={"job_id": job_id})
    return rescheduled


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
