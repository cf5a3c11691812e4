"""While Redis (the broker) is down, a worker's liveness probe keeps passing: restarting the pod would not
bring the broker back. Once Redis returns, the worker reconnects, ticks again and runs jobs."""

from __future__ import annotations

import subprocess
import sys
import time

from karlo_devstack.processes import ManagedProcess, wait_until
from karlo_devstack.services import start_redis
from support.api import submit, wait_until_terminal
from support.stacks import AppStack, Services, base_env

MAX_AGE = 3.0


def probe(worker: ManagedProcess) -> int:
    argv = [sys.executable, "-m", "karlo_worker.probe"]
    return subprocess.run(argv, env=worker.env, capture_output=True, timeout=30, check=False).returncode


def heartbeat_age(worker: ManagedProcess) -> float:
    with open(worker.env["KARLOQ_WORKER_HEARTBEAT_FILE"], "rb") as handle:
        return time.time() - float(handle.read())


def test_probe_passes_through_a_broker_outage_and_the_worker_recovers(services: Services) -> None:
    workdir = services.workdir / "broker-outage"
    redis_proc, redis_url = start_redis(workdir, persist=True)
    port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    env = base_env(services, "local", KARLOQ_REDIS_URL=redis_url, KARLOQ_WORKER_HEARTBEAT_MAX_AGE_SECONDS=str(MAX_AGE))
    stack = AppStack(workdir, env).start(workers=1)
    worker = stack.workers[0]
    try:
        assert probe(worker) == 0
        redis_proc.stop()
        time.sleep(2 * MAX_AGE)
        assert worker.alive()
        assert probe(worker) == 0, worker.log_tail()

        redis_proc, _ = start_redis(workdir, port, persist=True)  # the same data, from its append-only file
        job_id = submit(stack, {"input": {"prompt": "after the outage"}}).json()["id"]
        assert wait_until_terminal(stack, job_id, timeout=90)["status"] == "succeeded"
        wait_until(lambda: heartbeat_age(worker) < 1, timeout=10, what="the consumer loop to tick again")
    finally:
        stack.stop()
        redis_proc.stop()
