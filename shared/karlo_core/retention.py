"""Retention: finished jobs older than the retention period are deleted, record, index entry and objects.

Age counts from creation; a job still in progress is never deleted, however old (it may wait for a month's
quota). Objects go first, so a storage outage leaves the record for the next purge rather than a record
pointing at nothing. An S3 lifecycle rule on ``jobs/`` may do the objects' part as well; both are safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from karlo_core import keys
from karlo_core.errors import StorageError
from karlo_core.jobstore import JobStore
from karlo_core.storage import Storage, job_prefix
from karlo_core.tenant_jobs import TenantJobs

log = logging.getLogger(__name__)

BATCH = 200


@dataclass
class Purged:
    jobs: int = 0
    objects: int = 0


def purge_expired(client: redis.Redis, storage: Storage, *, created_before: float, max_jobs: int = 5000) -> Purged:
    store, index = JobStore(client), TenantJobs(client)
    purged = Purged()
    for tenant in sorted(str(t) for t in client.smembers(keys.tenants())):
        after: str | None = None
        while purged.jobs < max_jobs:
            ids = index.created_before(tenant, created_before, after=after, count=BATCH)
            if not ids:
                break
            after = ids[-1]
            gone: list[str] = []
            for job_id, job in zip(ids, store.get_many(ids), strict=True):
                if job is not None and not job.status.is_terminal:
                    continue
                try:
                    purged.objects += storage.delete_prefix(job_prefix(job_id))
                except StorageError:
                    log.warning("retention: objects not deleted; will retry", extra={"job_id": job_id})
                    continue
                store.delete(job_id)
                gone.append(job_id)
            index.forget(tenant, gone)
            purged.jobs += len(gone)
    return purged


def purge_if_due(client: redis.Redis, storage: Storage, *, retention_seconds: float, interval: float) -> Purged | None:
    """Run the purge unless another worker ran it within ``interval`` seconds."""
    if not client.set(keys.retention_lock(), "1", nx=True, ex=max(int(interval), 1)):
        return None
    now_seconds, micros = client.time()
    purged = purge_expired(client, storage, created_before=now_seconds + micros / 1e6 - retention_seconds)
    if purged.jobs:
        log.info("retention purge", extra={"jobs": purged.jobs, "objects": purged.objects})
    return purged
