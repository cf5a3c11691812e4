"""Re-dispatches jobs whose deadline passed: lost messages, and jobs whose worker died mid-run."""

from __future__ import annotations

import logging

from celery import Celery

from karlo_core.jobstore import JobStore
from karlo_core.queue import enqueue_job

log = logging.getLogger(__name__)

BATCH = 200


def sweep_once(store: JobStore, celery: Celery, *, grace: float) -> list[str]:
    ids = store.due_for_dispatch(limit=BATCH, grace=grace)
    for job_id in ids:
        enqueue_job(celery, job_id)
        log.info("job re-dispatched", extra={"job_id": job_id})
    return ids
