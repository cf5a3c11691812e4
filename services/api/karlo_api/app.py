"""``create_app(settings)``: the FastAPI application, with everything it needs built once."""

from __future__ import annotations

from fastapi import FastAPI

from karlo_api.deps import ApiState
from karlo_api.problems import install_problem_handlers
from karlo_api.routes import files, health, jobs
from karlo_core import __version__
from karlo_core.jobstore import JobStore
from karlo_core.queue import make_celery
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_core.storage.factory import link_signer, make_storage


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="karlo-queue",
        version=__version__,
        description="A reliable, quota-aware job queue in front of Kakao's Karlo image-generation API.",
        generate_unique_id_function=lambda route: f"{route.tags[0]}-{route.name}" if route.tags else route.name,
    )
    client = make_redis(settings)
    app.state.karloq = ApiState(
        settings=settings,
        redis=client,
        store=JobStore(client),
        storage=make_storage(settings),
        celery=make_celery(settings, "karlo_api"),
        signer=link_signer(settings),
    )
    install_problem_handlers(app)
    app.include_router(jobs.router)
    app.include_router(files.router)
    app.include_router(health.router)
    return app
