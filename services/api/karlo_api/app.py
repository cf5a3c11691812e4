"""``create_app(settings)``: the FastAPI application, with everything it needs built once."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import redis
from fastapi import FastAPI

from karlo_api.backend_gate import BackendGate
from karlo_api.deps import ApiState
from karlo_api.event_frames import ProgressEvent, event_renderer
from karlo_api.event_hub import EventHub
from karlo_api.input_fetch import InputFetcher
from karlo_api.job_requests import CREATE_JOB_ADAPTER, JobRequestParser
from karlo_api.lean_route import install_lean_routes
from karlo_api.problems import ProblemDocument, install_problem_handlers
from karlo_api.request_guard import RequestGuardMiddleware
from karlo_api.routes import backends, batches, deliveries, events, files, health, jobs, metrics, quota, webhooks
from karlo_api.tenant_cache import TenantCache
from karlo_core import __version__
from karlo_core.batches import BatchStore
from karlo_core.durability import DurabilityWaiter
from karlo_core.exposition import make_registry
from karlo_core.job_accept import JobAcceptor
from karlo_core.jobstore import EventRetention, JobStore
from karlo_core.netguard import NetGuard, guarded_async_client, parse_networks
from karlo_core.plans import Plans
from karlo_core.queue import make_celery
from karlo_core.quota.policy import make_buckets
from karlo_core.redis_client import make_async_redis, make_redis
from karlo_core.redis_pipe import PipelinedRedis
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from karlo_core.storage.factory import link_signer, make_storage
from karlo_core.tenant_jobs import TenantJobs
from karlo_core.webhooks.endpoints import WebhookEndpoints
from karlo_core.webhooks.factory import secret_store, webhook_guards
from karlo_core.webhooks.outbox import Outbox

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="karlo-queue",
        version=__version__,
        description="A reliable, quota-aware job queue in front of Kakao's Karlo image-generation API.",
        generate_unique_id_function=lambda route: f"{route.tags[0]}-{route.name}" if route.tags else route.name,
        # The service exports its own Prometheus metrics and logs; FastAPI's native OpenTelemetry would only
        # look up (unconfigured) global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    client = make_redis(settings)
    durability = DurabilityWaiter(
        client,
        mode=settings.accept_durability,
        replicas=settings.accept_durability_replicas,
        timeout_ms=settings.accept_durability_timeout_ms,
    )
    try:
        durability.check_supported()  # DurabilityUnsupported stops the start: better than a promise not kept
    except redis.ConnectionError:
        log.warning("Redis unreachable at start: KARLOQ_ACCEPT_DURABILITY not checked")
    guards = webhook_guards(settings, client)
    input_client = guarded_async_client(
        NetGuard(
            allow_networks=parse_networks(settings.input_url_allow_networks.split(",")),
            allow_http=settings.input_url_allow_http,
        ),
        timeout=httpx.Timeout(settings.input_fetch_timeout_seconds),
    )
    store = JobStore(client)
    aclient = make_async_redis(settings)
    scripts = PipelinedRedis(settings.redis_url)  # the accept script's calls, auto-pipelined on one connection
    quota_buckets = make_buckets(settings, client)
    event_retention = EventRetention(settings.event_stream_max_events, settings.event_stream_max_age_seconds)
    scheduler = Scheduler(client, settings, quota_buckets)
    hub = EventHub(settings.redis_url, per_tenant=settings.event_streams_per_tenant)
    app.state.karloq = ApiState(
        settings=settings,
        redis=client,
        store=store,
        storage=make_storage(settings),
        celery=make_celery(settings, "karlo_api"),
        signer=link_signer(settings),
        parser=JobRequestParser(
            allow_non_english=settings.allow_non_english_prompts,
            webhook_guards=guards,
            decode_slots=settings.image_decode_concurrency,
            backends=BackendGate(settings),
        ),
        quota=quota_buckets,
        outbox=Outbox(client),
        webhook_secrets=secret_store(settings, client),
        webhook_guards=guards,
        tenant_jobs=TenantJobs(client),
        batches=BatchStore(client, store),
        events=hub,
        event_retention=event_retention,
        durability=durability,
        fetcher=InputFetcher(
            input_client,
            deadline_seconds=settings.input_fetch_timeout_seconds,
            per_tenant=settings.input_fetches_per_tenant,
        ),
        webhook_endpoints=WebhookEndpoints(client),
        plans=Plans(client, settings),
        scheduler=scheduler,
        aredis=aclient,
        acceptor=JobAcceptor(scripts, quota_buckets, scheduler, settings, events=event_retention),
        tenant_cache=TenantCache(aclient, ttl=settings.auth_cache_seconds),
    )
    hub.render = event_renderer(app.state.karloq)
    app.router.on_shutdown.append(hub.stop)
    app.router.on_shutdown.append(aclient.aclose)
    app.router.on_shutdown.append(scripts.aclose)
    app.state.metrics_registry = make_registry(settings, client)
    install_problem_handlers(app)
    app.add_middleware(
        RequestGuardMiddleware,
        max_bytes=settings.max_request_body_bytes,
        seconds=settings.request_timeout_seconds,
        max_wait_seconds=settings.max_wait_seconds,
    )
    app.include_router(jobs.router)
    app.include_router(events.router)
    app.include_router(batches.router)
    app.include_router(deliveries.router)
    app.include_router(webhooks.router)
    app.include_router(files.router)
    app.include_router(quota.router)
    app.include_router(backends.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_lean_routes(app, [(jobs.route_of(jobs.create_job), jobs.create_job_lean)])
    _publish_request_schemas(app)
    return app


def _publish_request_schemas(app: FastAPI) -> None:
    """Add what routes name but FastAPI does not generate: the create-job body (parsed by hand, JSON or
    multipart), the problem document of every error answer, and the data of an event stream's reset and
    progress events."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            extra = CREATE_JOB_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(extra.pop("$defs", {}))
            components["CreateJobRequest"] = extra
            problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(problem.pop("$defs", {}))
            components["ProblemDocument"] = problem
            components["ResetEvent"] = events.ResetEvent.model_json_schema(ref_template="#/components/schemas/{model}")
            components["ProgressEvent"] = ProgressEvent.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
