"""A page of one tenant's jobs, newest first, filtered by status and kind before paging.

The tenant's index (:class:`karlo_core.tenant_jobs.TenantJobs`) gives ids newest first; their records come from
the job store in batches, and records that no longer exist (expired) are skipped. At most ``scan_limit`` records
are read per page, so a rare status cannot make one request read everything: such a page may hold fewer jobs
than asked for, and its cursor says where to go on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import JobStore
from karlo_core.tenant_jobs import TenantJobs

#: Up to ``count`` job ids older than ``before`` (all when None), newest first.
IdPage = Callable[[str | None, int], list[str]]

#: Job records read per page at most while filtering.
SCAN_LIMIT = 1000


@dataclass(frozen=True)
class JobListing:
    jobs: list[Job]
    #: The last id looked at, to pass as ``cursor`` for the next page; None on the last page.
    next_cursor: str | None


def list_jobs(
    index: TenantJobs,
    store: JobStore,
    tenant: str,
    *,
    limit: int,
    cursor: str | None = None,
    statuses: Collection[JobStatus] = (),
    kinds: Collection[JobKind] = (),
    scan_limit: int = SCAN_LIMIT,
    ids_from: IdPage | None = None,
) -> JobListing:
    """Up to ``limit`` of the tenant's jobs older than ``cursor``, only ``statuses`` and ``kinds`` when given.

    ``ids_from`` narrows the ids paged through (one batch's jobs, say); by default they are the tenant's index.
    """

    def newest(before: str | None, count: int) -> list[str]:
        return index.newest(tenant, before=before, count=count)

    page_of = ids_from or newest
    found: list[Job] = []
    scanned = 0
    before = cursor
    while len(found) < limit and scanned < scan_limit:
        ids = page_of(before, min(max(limit * 2, 20), scan_limit - scanned))
        if not ids:
            return JobListing(found, None)  # the index is exhausted: this is the last page
        for job_id, job in zip(ids, store.get_many(ids), strict=True):
            scanned += 1
            before = job_id
            if job is None or (statuses and job.status not in statuses) or (kinds and job.kind not in kinds):
                continue
            found.append(job)
            if len(found) == limit:
                break
    return JobListing(found, before)
