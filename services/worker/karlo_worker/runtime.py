"""Everything a worker process needs, built once from settings and shared by its threads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from celery import Celery

from karlo_core.jobstore import JobStore
from karlo_core.karlo.client import KarloClient
from karlo_core.quota.buckets import QuotaBuckets
from karlo_core.quota.policy import make_buckets
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_core.storage import Storage
from karlo_core.storage.factory import make_storage
from karlo_core.webhooks.delivery import Deliverer
from karlo_core.webhooks.factory import make_deliverer
from karlo_core.webhooks.outbox import Outbox
from karlo_worker.spool import Spool


@dataclass
class WorkerRuntime:
    settings: Settings
    redis: redis.Redis
    store: JobStore
    karlo: KarloClient
    storage: Storage
    celery: Celery
    quota: QuotaBuckets
    outbox: Outbox
    deliverer: Deliverer
    spool: Spool


def make_runtime(settings: Settings, celery: Celery) -> WorkerRuntime:
    if settings.kakao_rest_api_key is None:
        raise RuntimeError("KAKAO_REST_API_KEY is not set: the worker has no Karlo credentials")
    timeout = httpx.Timeout(
        connect=settings.karlo_connect_timeout_seconds,
        read=settings.karlo_read_timeout_seconds,
        write=30.0,
        pool=10.0,
    )
    http = httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(max_connections=settings.worker_concurrency * 2),
        follow_redirects=False,
    )
    client = make_redis(settings)
    storage = make_storage(settings)
    deliverer = make_deliverer(settings, client, storage)
    return WorkerRuntime(
        settings=settings,
        redis=client,
        store=JobStore(client),
        karlo=KarloClient(http, base_url=settings.karlo_base_url, api_key=settings.kakao_rest_api_key),
        storage=storage,
        celery=celery,
        quota=make_buckets(settings, client),
        outbox=deliverer.outbox,
        deliverer=deliverer,
        spool=Spool(Path(settings.worker_spool_dir), max_bytes=settings.worker_spool_max_bytes),
    )
