"""Everything a worker process needs, built once from settings and shared by its threads."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis
from celery import Celery

from karlo_core.backends.base import Backend
from karlo_core.backends.catalogue import KARLO, KARLO_OPEN
from karlo_core.backends.karlo import KarloBackend
from karlo_core.errors import BlockedDestination
from karlo_core.guarded_fetch import GuardedFetcher
from karlo_core.jobstore import JobStore
from karlo_core.karlo.client import KarloClient
from karlo_core.netguard import CachingResolver, NetGuard, system_resolver
from karlo_core.pooled_http import make_pool
from karlo_core.queue import Queue
from karlo_core.quota.buckets import QuotaBuckets
from karlo_core.quota.policy import make_buckets
from karlo_core.redis_client import make_redis
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from karlo_core.storage import Storage
from karlo_core.storage.factory import make_storage
from karlo_core.webhooks.delivery import Deliverer
from karlo_core.webhooks.factory import make_deliverer
from karlo_core.webhooks.outbox import Outbox
from karlo_worker.lease import LeaseKeeper
from karlo_worker.spool import Spool

log = logging.getLogger(__name__)


@dataclass
class WorkerRuntime:
    settings: Settings
    redis: redis.Redis
    store: JobStore
    storage: Storage
    celery: Celery
    quota: QuotaBuckets
    outbox: Outbox
    deliverer: Deliverer
    spool: Spool
    #: Fetches the images Karlo answers with links: only from Karlo's own host or public addresses.
    image_fetcher: GuardedFetcher
    #: Keeps the leases of all the jobs this process runs alive, on one thread.
    leases: LeaseKeeper
    scheduler: Scheduler
    #: The backends this worker runs, by name: those whose queues it consumes.
    backends: dict[str, Backend] = field(default_factory=dict)


def worker_queues(settings: Settings) -> list[str]:
    """The queues named by KARLOQ_WORKER_QUEUES, checked against the known ones."""
    return [Queue(name.strip()).value for name in settings.worker_queues.split(",") if name.strip()]


def _karlo_backend(settings: Settings) -> KarloBackend:
    if settings.kakao_rest_api_key is None:
        raise RuntimeError("KAKAO_REST_API_KEY is not set: the worker has no Karlo credentials")
    timeout = httpx.Timeout(
        connect=settings.karlo_connect_timeout_seconds,
        read=settings.karlo_read_timeout_seconds,
        write=30.0,
        pool=10.0,
    )
    pool = make_pool(max_connections=settings.worker_concurrency * 2)
    client = KarloClient(pool, base_url=settings.karlo_base_url, api_key=settings.kakao_rest_api_key, timeout=timeout)
    return KarloBackend(client)


def _open_karlo_backend(settings: Settings) -> Backend:
    """Loads the weights now (the x4 upscaler's too, when named): a worker started for open Karlo is not ready
    until they are on its device."""
    try:
        from karlo_core.backends.open_karlo import OpenKarloBackend, OpenKarloConfig
    except ImportError as exc:
        raise RuntimeError(
            "open Karlo needs the model stack: pip install 'karlo-queue[model]' (torch, diffusers, transformers)"
        ) from exc
    config = OpenKarloConfig(
        text2img=settings.open_karlo_model,
        variations=settings.open_karlo_variations_model,
        device=settings.open_karlo_device,
        image_size=settings.open_karlo_image_size,
        upscaler=settings.open_karlo_upscaler_model,
        upscale_steps=settings.open_karlo_upscale_steps,
        upscale_guidance=settings.open_karlo_upscale_guidance,
    )
    return OpenKarloBackend.load(config)


def make_image_fetcher(settings: Settings) -> GuardedFetcher:
    """A guarded fetcher (see :mod:`karlo_core.guarded_fetch`): a link may lead to Karlo's own host (the addresses its
    base URL resolves to now) or to public space, nowhere else; plain http only when Karlo itself is reached so.
    A link's host is resolved once per :data:`~karlo_core.netguard.RESOLVE_TTL_SECONDS` (its links all name
    the same few hosts); each fetch is still checked and pinned to a checked address."""
    base = urlsplit(settings.karlo_base_url)
    port = base.port or (443 if base.scheme == "https" else 80)
    try:
        own = [ip_network(address) for address in system_resolver(base.hostname or "", port)]
    except BlockedDestination:  # Karlo's name does not resolve now: links must lead to public space
        own = []
    guard = NetGuard(allow_networks=own, allow_http=base.scheme == "http", resolver=CachingResolver())
    timeout = httpx.Timeout(connect=settings.karlo_connect_timeout_seconds, read=60.0, write=30.0, pool=10.0)
    return GuardedFetcher(guard, timeout=timeout)


def make_backends(settings: Settings) -> dict[str, Backend]:
    """Hosted Karlo for a worker of the jobs queue (or of webhooks only, as before), open Karlo for one of its
    own queue."""
    queues = worker_queues(settings)
    backends: dict[str, Backend] = {}
    if Queue.JOBS.value in queues or queues == [Queue.WEBHOOKS.value]:
        backends[KARLO] = _karlo_backend(settings)
    if Queue.KARLO_OPEN.value in queues:
        backends[KARLO_OPEN] = _open_karlo_backend(settings)
    return backends


def make_runtime(settings: Settings, celery: Celery) -> WorkerRuntime:
    client = make_redis(settings)
    storage = make_storage(settings)
    store = JobStore(client)
    deliverer = make_deliverer(settings, client, storage)
    quota = make_buckets(settings, client)
    return WorkerRuntime(
        settings=settings,
        redis=client,
        store=store,
        storage=storage,
        celery=celery,
        quota=quota,
        outbox=deliverer.outbox,
        deliverer=deliverer,
        spool=Spool(Path(settings.worker_spool_dir), max_bytes=settings.worker_spool_max_bytes),
        image_fetcher=make_image_fetcher(settings),
        leases=LeaseKeeper(store, lease_seconds=settings.job_lease_seconds),
        scheduler=Scheduler(client, settings, quota),
        backends=make_backends(settings),
    )
