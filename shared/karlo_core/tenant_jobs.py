"""Each tenant's jobs: an index for listing (newest first) and retention, and its concurrent-job cap.

The index is a sorted set whose scores are all 0, so Redis orders it by member; job ids sort by creation
time, so a page is one ``ZREVRANGEBYLEX`` from the cursor (the last id seen) and old jobs are a range too.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from karlo_core import keys, lua
from karlo_core.ids import smallest_id_at

#: A job admitted under the cap but still without a record this long after was lost with the API process
#: accepting it (an acceptance stores its inputs and writes its record well within the request timeout).
RECORDING_GRACE_SECONDS = 600.0


class TenantJobs:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._admit = client.register_script(lua.load("tenant_admit"))

    def admit(self, tenant: str, job_id: str, *, cap: int) -> bool:
        """Index a new job; False (nothing written) when the tenant already has ``cap`` jobs in progress."""
        return self.admit_all(tenant, [job_id], cap=cap)

    def admit_all(self, tenant: str, job_ids: Sequence[str], *, cap: int) -> bool:
        """Index new jobs, all or none; False (nothing written) when they would pass the ``cap`` in progress."""
        keys_ = [keys.tenant_jobs(tenant), keys.tenant_active_jobs(tenant)]
        return bool(self._admit(keys=keys_, args=[cap, keys.job(""), RECORDING_GRACE_SECONDS, *job_ids]))

    def withdraw(self, tenant: str, job_id: str) -> None:
        """Undo :meth:`admit` for a job that was not accepted after all."""
        self.forget(tenant, [job_id])

    def forget(self, tenant: str, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        with self._redis.pipeline() as pipe:
            pipe.zrem(keys.tenant_jobs(tenant), *job_ids)
            pipe.zrem(keys.tenant_active_jobs(tenant), *job_ids)
            pipe.execute()

    def newest(self, tenant: str, *, before: str | None, count: int) -> list[str]:
        """Up to ``count`` job ids, newest first, older than the id ``before`` when given."""
        upper = f"({before}" if before else "+"
        found = self._redis.zrevrangebylex(keys.tenant_jobs(tenant), upper, "-", start=0, num=count)
        return [str(i) for i in found]

    def created_before(self, tenant: str, epoch_seconds: float, *, after: str | None, count: int) -> list[str]:
        """Up to ``count`` of the oldest job ids created before ``epoch_seconds`` (and after the id ``after``)."""
        lower = f"({after}" if after else "-"
        upper = "(" + smallest_id_at(int(epoch_seconds * 1000))
        found = self._redis.zrangebylex(keys.tenant_jobs(tenant), lower, upper, start=0, num=count)
        return [str(i) for i in found]
