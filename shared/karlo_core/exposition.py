"""What a process serves to Prometheus: its own instruments plus the shared state read from Redis."""

from __future__ import annotations

from collections.abc import Iterable

import redis
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from karlo_core.heartbeats import Heartbeats
from karlo_core.queue import Queue
from karlo_core.quota.policy import make_buckets, upstream_scope
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_core.state_metrics import RedisStateCollector


class _ProcessMetrics(Collector):
    """The default registry (our instruments, process and GC metrics), seen through another registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def make_heartbeats(settings: Settings, client: redis.Redis) -> Heartbeats:
    return Heartbeats(client, max_age_seconds=settings.worker_heartbeat_max_age_seconds)


def make_state_collector(settings: Settings, client: redis.Redis) -> RedisStateCollector:
    same_redis = settings.celery_broker_url == settings.redis_url
    broker = client if same_redis else make_redis(settings.model_copy(update={"redis_url": settings.celery_broker_url}))
    return RedisStateCollector(
        store=client,
        broker=broker,
        queues=[queue.value for queue in Queue],
        quota=make_buckets(settings, client),
        scope=upstream_scope(settings),
        heartbeats=make_heartbeats(settings, client),
        backends=settings.backend_names,
        default_weight=settings.tenant_weight,
    )


def make_registry(settings: Settings, client: redis.Redis) -> CollectorRegistry:
    """A registry per app, so building several apps in one process never registers a collector twice."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessMetrics())
    registry.register(make_state_collector(settings, client))
    return registry
