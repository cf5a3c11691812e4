"""Open Karlo on CPU with the tiny random-weight model: images per second and peak memory through the whole
queue (API -> karlo-open queue -> worker -> storage), against bare pipeline calls measured in the same run.

Real processes: redis-server, the API and one open Karlo worker. Each round first runs the baseline (a fresh
process loading the same pipeline and timing bare calls: see :mod:`bench.open_karlo_bare`), then submits the
same number of jobs of the same size to the API and times until all have succeeded; the median over rounds is
reported. Both run torch on one thread. The difference is what the queue costs per job: the API, Redis, the
worker's claim, lease and progress writes, encoding and storing the images, and settling.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from karlo_core import tenants
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_api, start_redis, start_worker

TINY_IMAGE_SIZE = 64
#: Both cases run torch on one thread: on a small shared machine, OpenMP's spinning threads make multi-threaded
#: CPU inference erratic (a call varies by 10x), which would drown the difference being measured.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def _bare(model_dir: Path, jobs: int, samples: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.open_karlo_bare", str(model_dir / "text2img"), str(jobs), str(samples), "cpu"]
    env = {**os.environ, **ONE_THREAD}
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=1800, env=env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _queued(client: httpx.Client, jobs: int, samples: int) -> float:
    """Seconds from the first submission until every job has succeeded."""
    body = {"backend": "karlo-open", "input": {"prompt": "a benchmark", "samples": samples, "image_format": "png"}}
    start = time.perf_counter()
    ids = [client.post("/v1/jobs", json=body).json()["id"] for _ in range(jobs)]
    pending = set(ids)
    while pending:
        for job_id in list(pending):
            status = client.get(f"/v1/jobs/{job_id}").json()["status"]
            if status in ("failed", "canceled"):
                raise RuntimeError(f"job {job_id} ended {status}")
            if status == "succeeded":
                pending.discard(job_id)
        time.sleep(0.05)
    return time.perf_counter() - start


def _peak_rss(pid: int) -> int:
    """VmHWM of a process: its peak resident set, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run(workdir: Path, *, jobs: int, samples: int, rounds: int) -> str:
    models = workdir / "models"
    build = [sys.executable, "-m", "karlo_devstack.unclip_models", str(models)]
    subprocess.run(build, check=True, timeout=600, capture_output=True)
    processes: list[ManagedProcess] = []
    try:
        redis_proc, redis_url = start_redis(workdir, persist=False)
        processes.append(redis_proc)
        env = {
            "KARLOQ_REDIS_URL": redis_url,
            "KARLOQ_STORAGE_URL": f"file://{workdir / 'storage'}",
            "KARLOQ_ENABLED_BACKENDS": "karlo-open",
            "KARLOQ_DEFAULT_BACKEND": "karlo-open",
            "KARLOQ_OPEN_KARLO_MODEL": str(models / "text2img"),
            "KARLOQ_OPEN_KARLO_VARIATIONS_MODEL": str(models / "variations"),
            "KARLOQ_OPEN_KARLO_DEVICE": "cpu",
            "KARLOQ_OPEN_KARLO_IMAGE_SIZE": str(TINY_IMAGE_SIZE),
        }
        api_proc, api_url = start_api(workdir, env)
        processes.append(api_proc)
        worker_env = {**env, **ONE_THREAD, "KARLOQ_WORKER_QUEUES": "karlo-open"}
        worker = start_worker(workdir, worker_env, name="open-worker")
        processes.append(worker)
        with redis.Redis.from_url(redis_url, decode_responses=True) as conn:
            key = tenants.issue_key(conn, tenants.create_tenant(conn, "bench")).secret_key
        headers = {"Authorization": f"Bearer {key}"}
        bare: list[float] = []
        bare_rss: list[int] = []
        queued: list[float] = []
        with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
            _queued(client, 1, samples)  # warm-up
            for _ in range(rounds):
                baseline = _bare(models, jobs, samples)
                bare.append(sum(baseline["seconds"]))
                bare_rss.append(int(baseline["peak_rss_bytes"]))
                queued.append(_queued(client, jobs, samples))
        images = jobs * samples
        bare_rate, queue_rate = images / statistics.median(bare), images / statistics.median(queued)
        mib = 1024 * 1024
        lines = [
            "| case | images per second (median) | relative to bare call | peak RSS (MiB) |",
            "|---|---:|---:|---:|",
            f"| bare pipeline call (baseline) | {bare_rate:.2f} | 1.00 | {max(bare_rss) / mib:,.0f} |",
            f"| through the queue (API, worker, storage) | {queue_rate:.2f} | {queue_rate / bare_rate:.2f} "
            f"| {_peak_rss(worker.pid) / mib:,.0f} |",
        ]
        per_job = (statistics.median(queued) - statistics.median(bare)) / jobs
        lines.append(f"\nQueue cost per job: {per_job * 1000:,.0f} ms ({jobs} jobs of {samples} images per round).")
        return "\n".join(lines)
    finally:
        for proc in reversed(processes):
            proc.stop()
