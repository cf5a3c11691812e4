"""A worker's memory while it stores photo-sized images: peak and after, against the same worker idle.

Real processes: redis-server and one worker (the thread pool, 8 threads) storing to a local directory;
Karlo is :mod:`bench.photo_karlo`, answering each job's 8 samples as links to a 2048² PNG of about 11 MiB
(1280² asked for, upscaled). Each round queues all jobs at once while the worker is held still, releases it,
and reads its peak resident memory (``VmHWM``, reset before the round through ``/proc/PID/clear_refs``) and
its resident memory once the queue is drained and the worker has been idle for two seconds. Idle is its
resident memory after one warm-up job.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

import redis

from bench.photo_karlo import UPSCALED_SIDE, photo_karlo
from bench.queued_jobs import Held, JobQueuer, failed_jobs, memory_bytes, wait_drained
from karlo_core.job_inputs import GenerateParams
from karlo_core.settings import Settings
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_redis, start_worker

MIB = 1024 * 1024
#: How long the worker idles after a drain before its memory is read again.
SETTLE_SECONDS = 2.0


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def run(workdir: Path, *, jobs: int, samples: int, rounds: int) -> str:
    processes: list[ManagedProcess] = []
    rounds = min(rounds, 3)  # each round writes jobs x samples x 11 MiB twice (spool and store)
    try:
        redis_proc, redis_url = start_redis(workdir, persist=False)
        processes.append(redis_proc)
        with photo_karlo() as (karlo_url, pngs):
            env = {
                "KARLOQ_REDIS_URL": redis_url,
                "KAKAO_REST_API_KEY": "bench",
                "KARLOQ_KARLO_BASE_URL": karlo_url,
                "KARLOQ_STORAGE_URL": f"file://{workdir / 'storage'}",
                "KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT": "0",
                "KARLOQ_QUOTA_PER_MINUTE": "100000000",
                "KARLOQ_QUOTA_PER_DAY": "100000000",
                "KARLOQ_QUOTA_PER_MONTH": "100000000",
                "KARLOQ_WORKER_QUEUES": "jobs",
            }
            worker = start_worker(workdir, env, name="worker")
            processes.append(worker)
            client = redis.Redis.from_url(redis_url, decode_responses=True)
            limit = 100_000_000  # the env's quota limits: the dispatch steps reserve under the workers' own
            queuer = JobQueuer(
                Settings(redis_url=redis_url, quota_per_minute=limit, quota_per_day=limit, quota_per_month=limit)
            )
            params = GenerateParams(prompt="a photo", width=1280, height=1280, samples=samples, upscale=True)
            queuer.queue(GenerateParams(prompt="warm-up", upscale=True), 1)
            wait_drained(client)
            time.sleep(SETTLE_SECONDS)
            idle = memory_bytes(worker.pid)
            peaks: list[int] = []
            afters: list[int] = []
            for _ in range(rounds):
                _reset_peak(worker.pid)
                with Held(worker.pid):
                    ids = queuer.queue(params, jobs)
                wait_drained(client)
                if failed_jobs(queuer.store, ids):
                    raise RuntimeError(f"{failed_jobs(queuer.store, ids)} jobs did not succeed; see {worker.log_path}")
                peaks.append(memory_bytes(worker.pid, "VmHWM"))
                time.sleep(SETTLE_SECONDS)
                afters.append(memory_bytes(worker.pid))
                shutil.rmtree(workdir / "storage", ignore_errors=True)
            image_mib = len(pngs[UPSCALED_SIDE]) / MIB
        return _table(jobs, samples, image_mib, idle, peaks, afters)
    finally:
        for proc in reversed(processes):
            proc.stop()


def _table(jobs: int, samples: int, image_mib: float, idle: int, peaks: list[int], afters: list[int]) -> str:
    answer_mib = image_mib * samples
    lines = [
        f"{jobs} jobs x {samples} samples of {UPSCALED_SIDE}² PNG ({image_mib:.1f} MiB each, {answer_mib:.0f} MiB "
        f"per answer, {answer_mib * jobs / 1024:.1f} GiB in all), 8 threads; {len(peaks)} rounds.",
        "",
        "| worker resident memory | MiB | vs idle |",
        "|---|---:|---:|",
        f"| idle (after one warm-up job) | {idle / MIB:.0f} | 1.00 |",
        f"| peak while draining (median; highest) | {statistics.median(peaks) / MIB:.0f}; {max(peaks) / MIB:.0f} | "
        f"{statistics.median(peaks) / idle:.2f} |",
        f"| after the drain, {SETTLE_SECONDS:.0f} s idle (median) | {statistics.median(afters) / MIB:.0f} | "
        f"{statistics.median(afters) / idle:.2f} |",
    ]
    return "\n".join(lines)
