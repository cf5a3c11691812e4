"""``/v1/quota``: limit, use and reset time of every quota window that applies to the caller."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from karlo_api.deps import StateDep, TenantDep
from karlo_api.problems import problems_for
from karlo_api.ratelimit import limited, rate_limit_headers, tightest
from karlo_core.backends.catalogue import KARLO
from karlo_core.quota.policy import scopes_for
from karlo_core.scheduler import TenantBacklog

router = APIRouter(prefix="/v1/quota", tags=["quota"])


class WindowView(BaseModel):
    window: str = Field(description="minute (rolling), day or month (calendar, in the quota time zone)")
    limit: int = Field(description="Images allowed in the window")
    used: int = Field(description="Images reserved in the window so far")
    remaining: int = Field(description="Images left")
    resets_at: datetime = Field(description="When the window's use next falls")


class ScopeView(BaseModel):
    scope: str = Field(description="`karlo`: the shared upstream account; `tenant`: the caller's own share")
    windows: list[WindowView] = Field(description="Each window that limits this scope (none without a limit)")


class PlanView(BaseModel):
    weight: float = Field(description="Share of scarce capacity relative to other tenants with queued work")
    per_minute: int = Field(description="Images per minute of the caller's own (0: only the upstream limit)")
    per_day: int = Field(description="Images per day of the caller's own (0: only the upstream limit)")
    per_month: int = Field(description="Images per month of the caller's own (0: only the upstream limit)")
    max_active: int = Field(description="Jobs in progress at once (0: no cap); beyond, 429")
    max_priority: str = Field(description="The highest priority the caller's jobs may take")
    custom: bool = Field(description="Whether the caller has a plan of its own (else the defaults)")


class BacklogView(BaseModel):
    backend: str = Field(description="The backend whose queue this is")
    queued_jobs: int = Field(description="The caller's jobs waiting in its queue for this backend")
    queued_images: int = Field(description="Images those jobs will generate")
    drained_at: datetime | None = Field(
        description="When the last of them is expected to start (null: none queued; for a local backend also "
        "before any of its jobs has succeeded, as the estimate uses its measured pace, or while it has no GPU slot)"
    )


class QuotaView(BaseModel):
    scopes: list[ScopeView] = Field(description="The upstream account first, then the caller's share if one is set")
    plan: PlanView = Field(description="The caller's plan: its weight, limits and highest priority")
    backlog: BacklogView = Field(description="The caller's queued hosted-Karlo work and when it is expected to drain")
    backlogs: list[BacklogView] = Field(description="The same for each enabled backend, in their configured order")


@router.get("", response_model=QuotaView, responses=problems_for(401, 503))
def read_quota(state: StateDep, tenant: TenantDep, response: Response) -> QuotaView:
    """Counted in generated images: a job with 8 samples uses 8. ``karlo`` is the upstream account, ``tenant``
    the caller's share; the RateLimit fields show, per window, whichever of the two leaves fewer images. ``plan``
    is the caller's plan (set by the operator; a change applies at once), ``backlog`` its queued hosted-Karlo work
    and ``backlogs`` its queued work per enabled backend."""
    plan = state.plans.get(tenant)
    usages = state.quota.usages(scopes_for(state.settings, tenant, plan))
    names = state.settings.backend_names
    backlogs = {name: _backlog(state.scheduler.backlog(name, tenant), name) for name in names}
    backlog = backlogs.get(KARLO) or _backlog(state.scheduler.backlog(KARLO, tenant), KARLO)
    views = [
        ScopeView(
            scope="karlo" if index == 0 else "tenant",
            windows=[
                WindowView(
                    window=u.window,
                    limit=u.limit,
                    used=u.used,
                    remaining=u.remaining,
                    resets_at=datetime.fromtimestamp(u.resets_at, UTC),
                )
                for u in limited(scope_usages)
            ],
        )
        for index, scope_usages in enumerate(usages)
    ]
    response.headers.update(rate_limit_headers(tightest(usages), state.minute_seconds))
    return QuotaView(scopes=views, plan=PlanView(**asdict(plan)), backlog=backlog, backlogs=list(backlogs.values()))


def _backlog(backlog: TenantBacklog, backend: str) -> BacklogView:
    drained = datetime.fromtimestamp(backlog.drained_at, UTC) if backlog.drained_at is not None else None
    return BacklogView(backend=backend, queued_jobs=backlog.jobs, queued_images=backlog.images, drained_at=drained)
