"""Redis SIGKILLed under load and restarted on its append-only file: busy workers reconnect and finish every
job, and meanwhile the API answers 503 problem+json with Retry-After and /readyz says not ready."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from kombu import Connection, Exchange, Queue
from kombu.common import ignore_errors
from kombu.message import Message

from karlo_core.broker import TRANSPORT
from karlo_devstack.processes import free_port, wait_until
from karlo_devstack.services import sim_control, start_redis
from karlo_devstack.stack import Stack
from support.api import submit, wait_until_terminal
from support.stacks import SIM_KEY, AppStack, Services, base_env


@pytest.mark.parametrize(
    "transport",
    [
        TRANSPORT,
        pytest.param(
            "redis",
            marks=pytest.mark.xfail(raises=AttributeError, strict=True, reason="kombu's own transport: the bug"),
        ),
    ],
)
def test_a_channel_left_open_by_a_broker_outage_fails_as_a_connection_error(services: Services, transport: str) -> None:
    """The worker's situation, in kombu alone: a consumer holds an unacknowledged message and a mailbox
    channel is open when Redis dies; closing the connection leaves the mailbox open, and closing it later
    (as Celery does when the consumer restarts) must be a connection error Celery recovers from."""
    workdir = services.workdir / "kombu-outage"
    redis_proc, url = start_redis(workdir, persist=True)
    connection = Connection(url, transport=transport)
    try:
        queue = Queue("jobs", Exchange("jobs"), "jobs")
        with connection.Producer() as producer:
            producer.publish({"job_id": "x"}, exchange=queue.exchange, routing_key="jobs", declare=[queue])
        received: list[Message] = []
        connection.Consumer(queue, channel=connection.channel(), callbacks=[lambda _, m: received.append(m)]).consume()
        connection.drain_events(timeout=5)
        assert len(received) == 1
        mailbox = connection.channel()
        fanout = Queue("mailbox", Exchange("mailbox", type="fanout"), auto_delete=True)
        connection.Consumer(fanout, channel=mailbox, callbacks=[lambda *_: None]).consume()

        redis_proc.kill()
        connection.collect(socket_timeout=0.5)  # what the consumer does when it loses the broker
        assert not mailbox.closed
        ignore_errors(connection, mailbox.close)  # an AttributeError here is the worker's "Unrecoverable error"
    finally:
        redis_proc.stop()


def test_busy_workers_survive_a_redis_restart_and_the_api_answers_503(services: Services) -> None:
    workdir = services.workdir / "redis-restart"
    redis_proc, redis_url = start_redis(workdir, persist=True)
    port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    env = base_env(services, "local", KARLOQ_REDIS_URL=redis_url, KARLOQ_WORKER_CONCURRENCY="4")
    stack = AppStack(workdir, env).start(workers=2)
    try:
        sim_control(services.sim_url, latency_ms=1500)
        body = {"input": {"prompt": "through the outage", "width": 384, "height": 384}}
        ids = [submit(stack, body).json()["id"] for _ in range(16)]
        time.sleep(1.0)  # every worker thread is waiting on Karlo, more jobs wait in the queue

        redis_proc.kill()
        during = submit(stack, body)
        assert during.status_code == 503, during.text
        assert during.headers["content-type"] == "application/problem+json"
        assert int(during.headers["retry-after"]) > 0
        assert httpx.get(f"{stack.api_url}/readyz", timeout=10).status_code == 503
        assert httpx.get(f"{stack.api_url}/v1/jobs/{ids[0]}", headers=stack.headers, timeout=10).status_code == 503
        time.sleep(3)
        redis_proc, _ = start_redis(workdir, port, persist=True)

        wait_until(
            lambda: httpx.get(f"{stack.api_url}/readyz", timeout=10).status_code == 200, timeout=30, what="ready"
        )
        for job_id in ids:
            assert wait_until_terminal(stack, job_id, timeout=120)["status"] == "succeeded"
        for worker in stack.workers:
            assert worker.alive(), worker.log_tail()
            assert "Unrecoverable error" not in worker.log_path.read_text()
    finally:
        stack.stop()
        redis_proc.stop()


def test_make_run_starts_a_worker_again_once_it_died(services: Services, tmp_path: Path) -> None:
    environ = {
        "KARLOQ_REDIS_URL": services.redis_url.rsplit("/", 1)[0] + "/14",
        "KAKAO_REST_API_KEY": SIM_KEY,
        "KARLOQ_KARLO_BASE_URL": services.sim_url,
        "KARLOQ_STORAGE_URL": f"file://{tmp_path / 'storage'}",
        "KARLOQ_API_PORT": str(free_port()),
    }
    stack = Stack(workdir=tmp_path, environ=environ, workers=1).start()
    try:
        worker = stack.worker_processes[0]
        worker.kill()
        assert stack.revive_workers() == [worker.name]
        wait_until(lambda: worker.log_path.read_text().count(" ready.") == 2, timeout=60, what="the worker again")
        assert stack.revive_workers() == []
    finally:
        stack.stop()
