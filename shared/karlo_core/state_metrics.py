"""Gauges of shared state, read from Redis at scrape time so every process reports the same numbers.

Queue depth follows kombu's Redis transport: waiting messages are the queue's list (plus its priority lists),
and a message a worker has taken but not yet acknowledged sits in the ``unacked`` hash. Tasks are acknowledged
late, so a running job's message is still unacked: depth = waiting + unacked counts queued, reserved (prefetched)
and running work once each. Jobs waiting for quota hold no message and are not in the
depth: more workers would not help them.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from karlo_core import keys, lua, metrics
from karlo_core.broker import UNACKED_HASH
from karlo_core.heartbeats import Heartbeats
from karlo_core.jobs import JobStatus
from karlo_core.quota.buckets import QuotaBuckets, Scope

log = logging.getLogger(__name__)

#: kombu's Redis transport: priority lists are ``<queue>\x06\x16<step>`` for steps 3, 6, 9 (0 is the bare name).
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.WAITING_FOR_QUOTA, JobStatus.RUNNING)
#: Jobs counted per script call: about a millisecond of Redis time each.
CHUNK = 1000


class RedisStateCollector(Collector):
    """Queue depth, active jobs by status, upstream quota windows, live workers, read once per scrape."""

    def __init__(
        self,
        *,
        store: redis.Redis,
        broker: redis.Redis,
        queues: Sequence[str],
        quota: QuotaBuckets,
        scope: Scope,
        heartbeats: Heartbeats,
        backends: Sequence[str] = ("karlo",),
        default_weight: float = 1.0,
    ) -> None:
        self._store = store
        self._count_statuses = store.register_script(lua.load("jobs_by_status"))
        self._broker = broker
        self._queues = tuple(queues)
        self._quota = quota
        self._scope = scope
        self._heartbeats = heartbeats
        self._backends = tuple(backends)
        self._default_weight = default_weight

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(s.name, s.help, labels=s.labels) for s in metrics.STATE_GAUGES]

    def collect(self) -> Iterator[Metric]:
        up = _family(metrics.STATE_UP)
        try:
            families = [
                *self._queue_families(),
                self._jobs_family(),
                *self._quota_families(),
                self._workers(),
                *self._sched_families(),
            ]
        except redis.RedisError as exc:
            log.warning("state metrics unavailable", extra={"error": type(exc).__name__})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from families
        yield up

    def _queue_families(self) -> list[Metric]:
        """One MULTI, so a message moving between a list and the unacked hash is never counted twice."""
        depth, messages = _family(metrics.QUEUE_DEPTH), _family(metrics.QUEUE_MESSAGES)
        with self._broker.pipeline(transaction=True) as pipe:
            pipe.hvals(UNACKED_HASH)
            for queue in self._queues:
                pipe.llen(queue)
                for step in PRIORITY_STEPS:
                    pipe.llen(f"{queue}{PRIORITY_SEPARATOR}{step}")
            raw_unacked, *lengths = pipe.execute()
        unacked = self._unacked_by_queue(raw_unacked)
        per_queue = 1 + len(PRIORITY_STEPS)
        for index, queue in enumerate(self._queues):
            waiting = sum(int(n) for n in lengths[index * per_queue : (index + 1) * per_queue])
            messages.add_metric([queue, "waiting"], waiting)
            messages.add_metric([queue, "unacked"], unacked[queue])
            depth.add_metric([queue], waiting + unacked[queue])
        return [depth, messages]

    def _unacked_by_queue(self, entries: list[str]) -> Counter[str]:
        """Entries are JSON ``[message, exchange, routing_key]``; our queues are routed by their own name."""
        counts: Counter[str] = Counter()
        for raw in entries:
            try:
                _, exchange, routing_key = json.loads(raw)
            except (ValueError, TypeError):
                continue
            counts[routing_key if routing_key in self._queues else exchange] += 1
        return counts

    def _jobs_family(self) -> Metric:
        """Jobs with a deadline (handed out, running, retrying) and jobs in the scheduler's tenant queues."""
        family = _family(metrics.JOBS_ACTIVE)
        counts: Counter[str] = Counter()
        queues = [keys.job_deadlines()]
        for backend in self._backends:
            tenants = self._store.zrange(keys.sched_tenants(backend), 0, -1)
            queues += [keys.sched_queue(backend, str(tenant)) for tenant in tenants]
        for queue in queues:
            start = 0
            while True:
                reply = self._count_statuses(keys=[queue], args=[keys.job(""), start, start + CHUNK - 1])
                if not reply:
                    break
                for status, count in zip(reply[::2], reply[1::2], strict=True):
                    counts[str(status)] += int(count)
                start += CHUNK
        for status in ACTIVE_STATUSES:
            family.add_metric([status.value], counts[status.value])
        return family

    def _quota_families(self) -> list[Metric]:
        limit, used = _family(metrics.QUOTA_LIMIT), _family(metrics.QUOTA_USED)
        remaining, resets = _family(metrics.QUOTA_REMAINING), _family(metrics.QUOTA_RESETS_IN)
        for window in self._quota.usage(self._scope):
            limit.add_metric([window.window], window.limit)
            used.add_metric([window.window], window.used)
            remaining.add_metric([window.window], window.remaining)
            resets.add_metric([window.window], window.resets_in)
        blocked = _family(metrics.QUOTA_BLOCKED)
        until = self._store.get(keys.quota_blocked())
        blocked.add_metric([], 1 if until is not None and float(until) > self._quota.now() else 0)
        return [limit, used, remaining, resets, blocked]

    def _sched_families(self) -> list[Metric]:
        """Per backend: queued images, images handed out and entitled shares, by tenant (bounded: the top
        tenants by queued images by name, the rest as ``other``)."""
        queued, dispatched = _family(metrics.SCHED_QUEUED_IMAGES), _family(metrics.SCHED_DISPATCHED_IMAGES)
        entitled = _family(metrics.SCHED_ENTITLED_SHARE)
        for backend in self._backends:
            images = {str(t): int(n) for t, n in self._store.hgetall(keys.sched_images(backend)).items()}
            served = {str(t): int(n) for t, n in self._store.hgetall(keys.sched_served(backend)).items()}
            active = [str(t) for t in self._store.zrange(keys.sched_tenants(backend), 0, -1)]
            top = set(sorted(images, key=lambda t: -images[t])[: metrics.TOP_TENANTS])
            with self._store.pipeline(transaction=False) as pipe:
                for tenant in active:
                    pipe.hget(keys.plan(tenant), "weight")
                weights = {t: float(w or self._default_weight) for t, w in zip(active, pipe.execute(), strict=True)}
            total_weight = sum(weights.values())
            for family, values in (
                (queued, images),
                (dispatched, served),
                (entitled, {t: w / total_weight for t, w in weights.items()} if total_weight else {}),
            ):
                other = 0.0
                for tenant, value in values.items():
                    if tenant in top:
                        family.add_metric([backend, tenant], value)
                    else:
                        other += value
                family.add_metric([backend, "other"], other)
        return [queued, dispatched, entitled]

    def _workers(self) -> Metric:
        family = _family(metrics.WORKERS_LIVE)
        family.add_metric([], self._heartbeats.live())
        return family


def _family(spec: metrics.GaugeSpec) -> GaugeMetricFamily:
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
