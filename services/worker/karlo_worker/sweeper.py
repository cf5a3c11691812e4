"""Re-dispatches jobs whose deadline passed (lost messages, workers that died mid-run), and sends webhook
deliveries whose next attempt is due to the webhooks queue (so a lost message only delays a delivery)."""

from __future__ import annotations

import logging

from celery import Celery

from karlo_core.backends.catalogue import backend_queue
from karlo_core.jobstore import JobStore
from karlo_core.queue import enqueue_delivery, enqueue_job
from karlo_core.webhooks.outbox import Outbox

log = logging.getLogger(__name__)

BATCH = 200


def sweep_once(store: JobStore, celery: Celery, *, grace: float) -> list[str]:
    ids = store.due_for_dispatch(limit=BATCH, grace=grace)
    for job_id, backend in zip(ids, store.backends_of(ids), strict=True):
        enqueue_job(celery, job_id, queue=backend_queue(backend))
        log.info("job re-dispatched", extra={"job_id": job_id})
    return ids


def dispatch_deliveries(outbox: Outbox, celery: Celery, *, lease: float) -> list[tuple[str, int]]:
    due = outbox.due(limit=BATCH, lease_seconds=lease)
    for job_id, seq in due:
        enqueue_delivery(celery, job_id, seq)
    return due
