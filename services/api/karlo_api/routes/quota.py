"""``/v1/quota``: limit, use and reset time of every quota window that applies to the caller."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from karlo_api.deps import StateDep, TenantDep
from karlo_api.problems import problems_for
from karlo_api.ratelimit import limited, rate_limit_headers, tightest
from karlo_core.quota.policy import scopes_for

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


class QuotaView(BaseModel):
    scopes: list[ScopeView] = Field(description="The upstream account first, then the caller's share if one is set")


@router.get("", response_model=QuotaView, responses=problems_for(401, 503))
def read_quota(state: StateDep, tenant: TenantDep, response: Response) -> QuotaView:
    """Counted in generated images: a job with 8 samples uses 8. ``karlo`` is the upstream account, ``tenant``
    the caller's share; the RateLimit fields show, per window, whichever of the two leaves fewer images."""
    usages = state.quota.usages(scopes_for(state.settings, tenant))
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
    return QuotaView(scopes=views)
