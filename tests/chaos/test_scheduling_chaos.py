"""Fair scheduling through a SIGKILLed worker and a Redis restart on its append-only file, the quota the
bottleneck (a short test window) and tenants of different weights: every accepted job succeeds, once, none is
lost, and no quota window is ever overrun."""

from __future__ import annotations

import itertools
import time

import httpx

from karlo_core.plans import Plans
from karlo_core.settings import Settings
from karlo_devstack.processes import wait_until
from karlo_devstack.services import sim_control, start_redis
from support.api import Tenant, submit, wait_for_status, wait_until_terminal
from support.stacks import AppStack, Services, base_env, sim_stats

WINDOW = 3.0
LIMIT = 12
ONE = {"input": {"prompt": "fair through chaos", "width": 384, "height": 384, "samples": 1}}


def test_a_fairness_run_through_a_killed_worker_and_a_redis_restart_loses_nothing(services: Services) -> None:
    workdir = services.workdir / "scheduling-chaos"
    redis_proc, redis_url = start_redis(workdir, persist=True)
    port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    env = base_env(
        services,
        "local",
        KARLOQ_REDIS_URL=redis_url,
        KARLOQ_QUOTA_PER_MINUTE=str(LIMIT),
        KARLOQ_QUOTA_MINUTE_WINDOW_SECONDS=str(WINDOW),
        KARLOQ_QUOTA_WINDOW_GUARD_SECONDS="0.6",  # more than the simulated call, which Karlo counts at its end
        KARLOQ_WORKER_CONCURRENCY="3",
        KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT="0",
        KARLOQ_JOB_LEASE_SECONDS="2",
        KARLOQ_SWEEP_INTERVAL_SECONDS="0.3",
    )
    stack = AppStack(workdir, env).start(workers=3)
    try:
        sim_control(services.sim_url, latency_ms=300, quota={"per_window": LIMIT, "window_seconds": WINDOW})
        a, b, c = stack.new_tenant("a"), stack.new_tenant("b"), stack.new_tenant("c")
        Plans(stack.redis(), Settings(redis_url=stack.redis_url)).set(c.tenant_id, {"weight": "2"})
        ids: list[tuple[Tenant, str]] = []
        for _ in range(30):
            ids.append((a, submit(a, ONE).json()["id"]))
        for _ in range(12):
            ids.append((b, submit(b, ONE).json()["id"]))
            ids.append((c, submit(c, ONE).json()["id"]))

        wait_for_status(a, ids[LIMIT + 2][1], {"running", "succeeded"}, timeout=60)  # in the second window
        stack.workers[0].kill()  # SIGKILL, with jobs in its threads
        stack.add_worker()
        time.sleep(WINDOW / 2)
        redis_proc.kill()
        time.sleep(2)
        redis_proc, _ = start_redis(workdir, port, persist=True)
        wait_until(
            lambda: httpx.get(f"{stack.api_url}/readyz", timeout=10).status_code == 200, timeout=30, what="ready"
        )

        jobs = [wait_until_terminal(tenant, job_id, timeout=180) for tenant, job_id in ids]
        assert {job["status"] for job in jobs} == {"succeeded"}, [j["status"] for j in jobs]
        assert all(len(job["output"]["images"]) == 1 for job in jobs)
        stats = sim_stats(services.sim_url)
        calls = [(entry["at"], entry["images"]) for entry in stats["log"]]  # type: ignore[index]
        # Each call to Karlo belongs to one attempt. Only calls cut short by the kill (its worker's threads) or
        # by the restart (every thread in flight) are made again; attempts that never reached Karlo (a claim or
        # a settle that met Redis down) run nothing twice.
        attempts = sorted(job["attempts"] for job in jobs)
        gaps = [round(b[0] - a[0], 1) for a, b in itertools.pairwise(calls) if b[0] - a[0] > WINDOW]
        report = f"{len(jobs)} jobs, {len(calls)} calls, attempts {attempts}, pauses between calls {gaps}"
        assert len(jobs) <= len(calls) <= sum(attempts), report
        assert len(calls) - len(jobs) <= 3 + 3 * 3, report
        assert stats["quota"]["refused"] == 0, report  # type: ignore[index]  # Karlo's own count: never overrun
        for worker in stack.workers[1:]:
            assert worker.alive(), worker.log_tail()
    finally:
        stack.stop()
        redis_proc.stop()
