"""Queue depth counts every job that needs a worker: messages waiting in the list, reserved by a worker and
running (unacknowledged until done), so it never drops while workers are saturated."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from karlo_devstack.processes import wait_until
from karlo_devstack.services import sim_control
from support.api import submit, wait_until_terminal
from support.stacks import AppStack, Services, base_env

JOB = {"input": {"prompt": "a slow lighthouse", "width": 384, "height": 384}}


def samples(api_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{api_url}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("karlo_queue_")
    }


def test_depth_counts_waiting_reserved_and_running_jobs(services: Services) -> None:
    env = base_env(services, "local", KARLOQ_WORKER_CONCURRENCY="1")
    stack = AppStack(services.workdir / "queue-depth", env).start(workers=1)
    try:
        # Redis databases are shared by turns between test stacks: a message a killed worker left unacked
        # in this one is still pending work (it is redelivered after the visibility timeout), so it counts.
        before = samples(stack.api_url)
        base_waiting = before[("karlo_queue_queue_messages", (("queue", "jobs"), ("state", "waiting")))]
        base_unacked = before[("karlo_queue_queue_messages", (("queue", "jobs"), ("state", "unacked")))]
        base_depth = before[("karlo_queue_queue_depth", (("queue", "jobs"),))]
        assert base_depth == base_waiting + base_unacked
        sim_control(services.sim_url, latency_ms=2500)
        ids = [submit(stack, JOB).json()["id"] for _ in range(4)]

        def running() -> bool:
            return samples(stack.api_url)[("karlo_queue_jobs_active", (("status", "running"),))] == 1

        wait_until(running, timeout=20, what="one job running")
        seen = samples(stack.api_url)
        waiting = seen[("karlo_queue_queue_messages", (("queue", "jobs"), ("state", "waiting")))]
        unacked = seen[("karlo_queue_queue_messages", (("queue", "jobs"), ("state", "unacked")))]
        assert unacked - base_unacked >= 1  # the running job's message, acknowledged only when it is done
        assert waiting + unacked == 4 + base_waiting + base_unacked
        assert seen[("karlo_queue_queue_depth", (("queue", "jobs"),))] == 4 + base_depth
        assert seen[("karlo_queue_jobs_active", (("status", "queued"),))] == 3

        for job_id in ids:
            wait_until_terminal(stack, job_id, timeout=60)
        wait_until(
            lambda: samples(stack.api_url)[("karlo_queue_queue_depth", (("queue", "jobs"),))] == base_depth,
            timeout=10,
            what="an empty queue",
        )
    finally:
        stack.stop()
