"""No queued job waits for the broker's visibility timeout: a retry is sent by the job store's schedule when
it is due (never held by a worker as a countdown message), and a message that died with its worker before
the job was claimed is noticed within seconds and replaced."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from karlo_devstack.processes import wait_until
from karlo_devstack.services import sim_control
from support.api import submit, wait_until_terminal
from support.stacks import AppStack, Services, base_env, sim_stats

BODY = {"input": {"prompt": "not forgotten", "width": 384, "height": 384}}
#: A consumer that takes one run-job message off the queue the way a Celery worker does (kombu's Redis
#: transport with acknowledgement emulation: the message moves to the unacked hash) and dies holding it.
DYING_CONSUMER = textwrap.dedent(
    """
    import os, sys
    from kombu import Connection, Queue
    with Connection(sys.argv[1]) as connection:
        taken = []
        connection.Consumer(Queue("jobs"), callbacks=[lambda body, message: taken.append(message)]).consume()
        while not taken:
            connection.drain_events(timeout=10)
        os._exit(0)
    """
)


def _env(services: Services, **extra: str) -> dict[str, str]:
    # The last-resort schedule is far away, as in production: only the mechanisms under test can save the job.
    return base_env(services, "local", KARLOQ_DISPATCH_GRACE_SECONDS="900", KARLOQ_ORPHAN_MESSAGE_SECONDS="1", **extra)


def test_a_brand_new_job_whose_message_died_with_its_worker_runs_within_seconds(services: Services) -> None:
    stack = AppStack(services.workdir / "orphaned-message", _env(services)).start(workers=0)
    try:
        job_id = submit(stack, BODY).json()["id"]
        subprocess.run([sys.executable, "-c", DYING_CONSUMER, stack.redis_url], check=True, timeout=30)
        with stack.redis() as client:
            assert client.hlen("unacked") == 1 and client.llen("jobs") == 0
        stack.add_worker()
        started = time.monotonic()
        job = wait_until_terminal(stack, job_id, timeout=30)
        assert job["status"] == "succeeded", job
        print(f"orphaned message replaced and job done in {time.monotonic() - started:.1f}s")
        with stack.redis() as client:
            wait_until(lambda: client.hlen("unacked") == 0, timeout=10, what="the dead message to be dropped")
    finally:
        stack.stop()


def test_a_message_lost_between_the_queue_and_a_dying_worker_is_replaced(services: Services) -> None:
    """kombu takes a message off the queue (BRPOP) and then records it as held (the unacked hash): a worker
    SIGKILLed between the two leaves no trace of the message anywhere."""
    stack = AppStack(services.workdir / "vanished-message", _env(services)).start(workers=0)
    try:
        job_id = submit(stack, BODY).json()["id"]
        with stack.redis() as client:
            assert client.brpop(["jobs"], timeout=10) is not None  # taken, never held: gone
            assert client.llen("jobs") == 0 and client.hlen("unacked") == 0
        stack.add_worker()
        job = wait_until_terminal(stack, job_id, timeout=30)
        assert job["status"] == "succeeded", job
    finally:
        stack.stop()


def test_a_retry_is_sent_by_the_schedule_not_held_by_a_worker_that_dies(services: Services) -> None:
    env = _env(services, KARLOQ_RETRY_BASE_SECONDS="3", KARLOQ_RETRY_MAX_SECONDS="3")
    stack = AppStack(services.workdir / "retry-schedule", env).start(workers=1)
    try:
        sim_control(services.sim_url, faults=[{"code": -7, "http_status": 400, "msg": "maintenance"}])
        job_id = submit(stack, BODY).json()["id"]
        doomed = stack.workers[0]
        wait_until(lambda: "job will retry" in doomed.log_path.read_text(), timeout=30, what="the first attempt")
        doomed.kill()  # while the retry waits for its delay
        with stack.redis() as client:
            assert client.llen("jobs") == 0 and client.hlen("unacked") == 0, "a delayed message exists"
        stack.add_worker()

        job = wait_until_terminal(stack, job_id, timeout=30)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2
        assert sim_stats(services.sim_url)["calls"] == {"t2i": 2}
    finally:
        stack.stop()
