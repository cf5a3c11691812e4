"""Dependencies the routes declare, as ``Annotated`` aliases; all built once in :func:`create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis
import redis.asyncio as aioredis
from celery import Celery
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from karlo_api.event_hub import EventHub
from karlo_api.input_fetch import InputFetcher
from karlo_api.job_requests import JobRequestParser
from karlo_api.problems import Problem
from karlo_api.tenant_cache import TenantCache
from karlo_core.batches import BatchStore
from karlo_core.durability import DurabilityWaiter
from karlo_core.errors import JobNotFound
from karlo_core.ids import is_job_id
from karlo_core.job_accept import JobAcceptor
from karlo_core.jobs import Job
from karlo_core.jobstore import EventRetention, JobStore
from karlo_core.plans import Plans
from karlo_core.quota.buckets import QuotaBuckets
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from karlo_core.storage import Storage
from karlo_core.storage.links import LinkSigner
from karlo_core.tenant_jobs import TenantJobs
from karlo_core.webhooks.endpoints import WebhookEndpoints
from karlo_core.webhooks.guards import WebhookGuards
from karlo_core.webhooks.outbox import Outbox
from karlo_core.webhooks.secrets import SecretStore


@dataclass
class ApiState:
    settings: Settings
    redis: redis.Redis
    store: JobStore
    storage: Storage
    celery: Celery
    signer: LinkSigner
    parser: JobRequestParser
    quota: QuotaBuckets
    outbox: Outbox
    webhook_secrets: SecretStore
    webhook_guards: WebhookGuards
    tenant_jobs: TenantJobs
    batches: BatchStore
    events: EventHub
    event_retention: EventRetention
    fetcher: InputFetcher
    durability: DurabilityWaiter
    webhook_endpoints: WebhookEndpoints
    plans: Plans
    scheduler: Scheduler
    #: The asyncio client of the accept path (and ``Prefer: wait``): no thread-pool hop per Redis call.
    aredis: aioredis.Redis
    acceptor: JobAcceptor
    tenant_cache: TenantCache

    @property
    def minute_seconds(self) -> float:
        return self.settings.quota_minute_window_seconds


async def get_state(request: Request) -> ApiState:
    """Async, so FastAPI calls it on the event loop rather than through the thread pool."""
    state: ApiState = request.app.state.karloq
    return state


StateDep = Annotated[ApiState, Depends(get_state)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}

#: Declares the scheme in the OpenAPI document; the check itself is :func:`get_tenant`'s.
bearer_scheme = HTTPBearer(auto_error=False, description="An API key issued by `python -m karlo_api.admin issue-key`")


async def get_tenant(
    state: StateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> str:
    """The tenant whose API key the request carries (``Authorization: Bearer kq_...``); 401 otherwise. A key's
    tenant is kept in process for ``KARLOQ_AUTH_CACHE_SECONDS`` (:mod:`karlo_api.tenant_cache`)."""
    if credentials is None:
        raise Problem(
            401, "unauthorized", "An API key is required", "send Authorization: Bearer <key>", headers=_CHALLENGE
        )
    tenant = await state.tenant_cache.tenant(credentials.credentials)
    if tenant is None:
        raise Problem(401, "unauthorized", "The API key is not valid", "unknown or revoked key", headers=_CHALLENGE)
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]


def get_own_job(job_id: str, state: StateDep, tenant: TenantDep) -> Job:
    """The job named by the path's ``job_id`` when it is the tenant's; another tenant's job is as missing as one
    that never existed (JobNotFound, a 404)."""
    job = state.store.get(job_id) if is_job_id(job_id) else None
    if job is None or job.tenant != tenant:
        raise JobNotFound(job_id)
    return job


OwnJobDep = Annotated[Job, Depends(get_own_job)]
