"""Dependencies the routes declare, as ``Annotated`` aliases; all built once in :func:`create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis
from celery import Celery
from fastapi import Depends, Request

from karlo_api.job_requests import JobRequestParser
from karlo_core.jobstore import JobStore
from karlo_core.netguard import NetGuard
from karlo_core.quota.buckets import QuotaBuckets
from karlo_core.settings import Settings
from karlo_core.storage import Storage
from karlo_core.storage.links import LinkSigner
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
    webhook_guard: NetGuard

    @property
    def minute_seconds(self) -> float:
        return self.settings.quota_minute_window_seconds


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.karloq
    return state


StateDep = Annotated[ApiState, Depends(get_state)]

DEFAULT_TENANT = "default"


def get_tenant() -> str:
    """The tenant making the request. Until API keys exist every caller is the one default tenant."""
    return DEFAULT_TENANT


TenantDep = Annotated[str, Depends(get_tenant)]
