"""``/v1/backends``: the generation backends a job may name, what each takes, and whether it can run now."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from karlo_api.deps import StateDep, TenantDep
from karlo_api.problems import problems_for
from karlo_core.backends.catalogue import BackendSpec
from karlo_core.exposition import make_heartbeats

router = APIRouter(prefix="/v1/backends", tags=["backends"])


class BackendView(BackendSpec):
    default: bool = Field(description="Jobs that name no backend go to this one")
    ready: bool = Field(
        description="A live worker has this backend ready (for karlo-open: its weights are loaded on a GPU); "
        "jobs for a backend that is not ready wait in its queue"
    )


class BackendList(BaseModel):
    data: list[BackendView] = Field(description="The enabled backends, the default first")


@router.get("", response_model=BackendList, responses=problems_for(401, 503))
async def list_backends(state: StateDep, tenant: TenantDep) -> BackendList:
    """The backends the operator enabled: their kinds, parameters and limits, and whether each is ready."""
    heartbeats = make_heartbeats(state.settings, state.redis)
    views = []
    for index, spec in enumerate(state.parser.backends.specs):
        ready = await run_in_threadpool(heartbeats.backend_ready, spec.name)
        views.append(BackendView(**spec.model_dump(), default=index == 0, ready=ready))
    return BackendList(data=views)
