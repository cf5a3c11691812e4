"""Generation throughput with webhooks to a healthy receiver and to a dead one, against jobs without webhooks.

The whole stack runs as real processes: redis-server, the Karlo simulator, the API, one generation worker
(queue ``jobs``) and one delivery worker (queue ``webhooks``). Each round submits a batch of jobs and times
until all have finished; the three cases alternate, so drift in machine load hits every case alike.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis

from karlo_core import tenants
from karlo_devstack.processes import ManagedProcess, free_port
from karlo_devstack.services import sim_control, start_api, start_redis, start_simulator, start_worker
from karlo_sim.config import DEFAULT_SIM_KEY

BASELINE = "no webhook (baseline)"


class _Accepting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def _receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def _batch(client: httpx.Client, jobs: int, webhook: str | None) -> float:
    """Seconds from the first submission until every job of the batch has finished."""
    body: dict[str, Any] = {"input": {"prompt": "a benchmark", "width": 384, "height": 384}}
    if webhook:
        body["webhook"] = {"url": webhook}
    start = time.perf_counter()
    ids = [client.post("/v1/jobs", json=body).json()["id"] for _ in range(jobs)]
    pending = set(ids)
    while pending:
        for job_id in list(pending):
            if client.get(f"/v1/jobs/{job_id}").json()["status"] in ("succeeded", "failed", "canceled"):
                pending.discard(job_id)
        time.sleep(0.02)
    return time.perf_counter() - start


def run(workdir: Path, *, jobs: int, rounds: int, latency_ms: int) -> str:
    processes: list[ManagedProcess] = []
    try:
        redis_proc, redis_url = start_redis(workdir, persist=False)
        processes.append(redis_proc)
        sim_proc, sim_url = start_simulator(workdir, {"KARLO_SIM_API_KEY": DEFAULT_SIM_KEY})
        processes.append(sim_proc)
        env = {
            "KARLOQ_REDIS_URL": redis_url,
            "KAKAO_REST_API_KEY": DEFAULT_SIM_KEY,
            "KARLOQ_KARLO_BASE_URL": sim_url,
            "KARLOQ_STORAGE_URL": f"file://{workdir / 'storage'}",
            "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
            "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
            "KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT": "0",
            "KARLOQ_QUOTA_PER_MINUTE": "1000000",
            "KARLOQ_QUOTA_PER_DAY": "1000000",
        }
        sim_control(sim_url, latency_ms=latency_ms)  # how long Karlo takes to answer
        api_proc, api_url = start_api(workdir, env)
        processes.append(api_proc)
        processes.append(start_worker(workdir, {**env, "KARLOQ_WORKER_QUEUES": "jobs"}, name="jobs-worker"))
        processes.append(start_worker(workdir, {**env, "KARLOQ_WORKER_QUEUES": "webhooks"}, name="hooks-worker"))
        with redis.Redis.from_url(redis_url, decode_responses=True) as conn:
            key = tenants.issue_key(conn, tenants.create_tenant(conn, "bench")).secret_key
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client, _receiver() as healthy:
            client.post("/v1/webhooks/secret/rotate").raise_for_status()
            cases = {BASELINE: None, "webhook, receiver up": healthy, "webhook, receiver down": _dead_url()}
            _batch(client, jobs, None)  # warm-up
            seconds: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(rounds):
                for name, webhook in cases.items():
                    seconds[name].append(_batch(client, jobs, webhook))
        baseline = jobs / statistics.median(seconds[BASELINE])
        lines = ["| case | jobs per second (median) | relative to no webhook |", "|---|---:|---:|"]
        for name, values in seconds.items():
            rate = jobs / statistics.median(values)
            lines.append(f"| {name} | {rate:,.1f} | {rate / baseline:.2f} |")
        return "\n".join(lines)
    finally:
        for proc in reversed(processes):
            proc.stop()


def _dead_url() -> str:
    """A loopback port nothing listens on: every delivery attempt is refused and scheduled again."""
    return f"http://127.0.0.1:{free_port()}/hook"
