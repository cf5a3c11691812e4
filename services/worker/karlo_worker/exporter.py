"""The worker's Prometheus exporter: one HTTP port per worker process.

Workers run a thread pool in one process, so a port per process gives correct totals without
prometheus-client's multiprocess mode (and its shared files and lost gauges): Prometheus scrapes each worker
and sums the counters.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server

from karlo_core.settings import Settings

log = logging.getLogger(__name__)


def start_exporter(settings: Settings, registry: CollectorRegistry) -> int | None:
    """Serve ``/metrics`` on KARLOQ_WORKER_METRICS_PORT (0: a free port); the port taken, or None when off."""
    if settings.worker_metrics_port < 0:
        return None
    server, _ = start_http_server(settings.worker_metrics_port, settings.worker_metrics_host, registry=registry)
    port = int(server.server_port)
    log.info("metrics exporter listening", extra={"host": settings.worker_metrics_host, "metrics_port": port})
    return port
