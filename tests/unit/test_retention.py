"""Retention against a real Redis and a real S3 server: old finished jobs go, with every object; others stay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from karlo_core import tenants
from karlo_core.ids import new_job_id
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import JobStore
from karlo_core.retention import purge_expired, purge_if_due
from karlo_core.storage import Storage, image_key, input_key
from karlo_core.storage.links import LinkSigner
from karlo_core.storage.local import LocalStorage
from karlo_core.storage.s3 import S3Storage
from karlo_core.tenant_jobs import TenantJobs
from support.stacks import BUCKET, Services, s3_client

DAY = 86400.0


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(services.redis_url, decode_responses=True)
    yield conn
    conn.close()


@pytest.fixture(params=["s3", "local"])
def storage(request: pytest.FixtureRequest, services: Services, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path, public_base_url="http://x", signer=LinkSigner(b"k"))
    s3 = s3_client(services.s3_url)
    return S3Storage(s3, bucket=BUCKET, prefix=f"retention-{time.time_ns()}")


def _job(client: redis.Redis, storage: Storage, tenant: str, *, age: float, status: JobStatus) -> str:
    created = time.time() - age
    job_id = new_job_id(int(created * 1000))
    job = Job(
        id=job_id,
        kind=JobKind.GENERATE,
        status=status,
        params=GenerateParams(prompt="p"),
        created_at=created,
        tenant=tenant,
    )
    assert TenantJobs(client).admit(tenant, job_id, cap=0)
    assert JobStore(client).create(job, dispatch_grace=60)
    storage.put(image_key(job_id, 0, "png"), b"image", "image/png")
    storage.put(input_key(job_id, "mask", "png"), b"mask", "image/png")
    return job_id


def _exists(storage: Storage, key: str) -> bool:
    try:
        storage.get(key)
    except Exception:
        return False
    return True


def test_old_finished_jobs_are_purged_with_their_objects(client: redis.Redis, storage: Storage) -> None:
    tenant = tenants.create_tenant(client, "retained")
    old_done = _job(client, storage, tenant, age=8 * DAY, status=JobStatus.SUCCEEDED)
    old_waiting = _job(client, storage, tenant, age=9 * DAY, status=JobStatus.WAITING_FOR_QUOTA)
    recent_done = _job(client, storage, tenant, age=1 * DAY, status=JobStatus.FAILED)

    purged = purge_expired(client, storage, created_before=time.time() - 7 * DAY)

    assert (purged.jobs, purged.objects) == (1, 2)
    store = JobStore(client)
    assert store.get(old_done) is None
    assert not _exists(storage, image_key(old_done, 0, "png"))
    assert not _exists(storage, input_key(old_done, "mask", "png"))
    assert TenantJobs(client).newest(tenant, before=None, count=10) == [recent_done, old_waiting]
    for kept in (old_waiting, recent_done):
        assert store.get(kept) is not None
        assert _exists(storage, image_key(kept, 0, "png"))


def test_one_worker_purges_per_interval(client: redis.Redis, storage: Storage) -> None:
    assert purge_if_due(client, storage, retention_seconds=7 * DAY, interval=60) is not None
    assert purge_if_due(client, storage, retention_seconds=7 * DAY, interval=60) is None
