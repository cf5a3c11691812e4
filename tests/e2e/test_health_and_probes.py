"""Health without credentials: the API's /healthz, /readyz and /metrics, and the worker's liveness probe,
which reads a heartbeat file and never calls the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from karlo_devstack.processes import ManagedProcess, wait_until
from karlo_devstack.services import worker_metrics_url
from support.stacks import AppStack, Services, base_env


def probe(worker: ManagedProcess) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "karlo_worker.probe"]
    return subprocess.run(argv, env=worker.env, capture_output=True, text=True, timeout=30, check=False)


def gauge(url: str, name: str) -> float:
    text = httpx.get(url, timeout=5).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]
    assert len(samples) == 1, samples
    return samples[0].value


def test_probe_and_live_workers_follow_the_heartbeat(services: Services) -> None:
    stack = AppStack(services.workdir / "probes", base_env(services, "local")).start(workers=1)
    worker = stack.workers[0]
    metrics = f"{stack.api_url}/metrics"
    try:
        ok = probe(worker)
        assert ok.returncode == 0, ok.stdout
        assert ok.stdout.startswith("ok: heartbeat")
        wait_until(lambda: gauge(metrics, "karlo_queue_workers_live") == 1, timeout=10, what="a live worker")
        assert gauge(worker_metrics_url(worker), "karlo_queue_workers_live") == 1  # the same truth everywhere

        os.killpg(worker.pid, signal.SIGSTOP)  # a hung worker: alive, but its consumer loop makes no progress
        try:
            wait_until(lambda: probe(worker).returncode == 1, timeout=15, what="the probe to see a stale heartbeat")
            assert "unhealthy: heartbeat is" in probe(worker).stdout
            wait_until(lambda: gauge(metrics, "karlo_queue_workers_live") == 0, timeout=10, what="no live worker")
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
        wait_until(lambda: probe(worker).returncode == 0, timeout=15, what="the heartbeat to resume")
        wait_until(lambda: gauge(metrics, "karlo_queue_workers_live") == 1, timeout=10, what="the worker back")

        worker.stop()  # a clean shutdown withdraws the heartbeat at once
        assert gauge(metrics, "karlo_queue_workers_live") == 0
        assert probe(worker).returncode == 1
    finally:
        stack.stop()


def test_health_endpoints_and_metrics_need_no_key_and_readyz_checks_storage(services: Services) -> None:
    stack = AppStack(services.workdir / "health", base_env(services, "s3")).start(workers=0)
    broken = base_env(services, "s3", KARLOQ_S3_ENDPOINT_URL="http://127.0.0.1:9")
    broken_stack = AppStack(services.workdir / "health-broken", broken).start(workers=0)
    try:
        assert httpx.get(f"{stack.api_url}/healthz", timeout=5).json() == {"status": "ok"}
        ready = httpx.get(f"{stack.api_url}/readyz", timeout=10)
        assert (ready.status_code, ready.json()["checks"]) == (200, {"redis": "ok", "storage": "ok"})
        scraped = httpx.get(f"{stack.api_url}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        assert gauge(f"{stack.api_url}/metrics", "karlo_queue_state_up") == 1

        started = time.monotonic()
        not_ready = httpx.get(f"{broken_stack.api_url}/readyz", timeout=30)
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["redis"] == "ok"
        assert not_ready.json()["checks"]["storage"].startswith("error")
        assert time.monotonic() - started < 30
        assert httpx.get(f"{broken_stack.api_url}/healthz", timeout=5).status_code == 200
    finally:
        stack.stop()
        broken_stack.stop()
