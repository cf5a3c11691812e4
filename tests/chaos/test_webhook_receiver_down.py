"""A receiver that is down (refused connections, then 500s, then 429 with Retry-After) for a while: every
event still arrives once it recovers, with stable webhook-ids, and jobs finish at the usual pace meanwhile.
A delivery worker killed in the middle of an attempt loses no event either."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from karlo_devstack.processes import wait_until
from karlo_devstack.services import sim_control, start_worker
from support.api import submit, wait_until_terminal
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env
from support.webhooks import deliveries, rotate_secret, verified, wait_for_deliveries

JOBS = 16
RETRY_AFTER = 2
ENV = {
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    # About 24 s of retries: long enough to outlast the outage below.
    "KARLOQ_WEBHOOK_RETRY_SCHEDULE": "0.5s,1s,2s,2s,3s,3s,3s,3s,3s,3s",
    "KARLOQ_WEBHOOK_RETRY_JITTER": "0.1",
    "KARLOQ_WEBHOOK_TIMEOUT_SECONDS": "2",
    "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.2",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
    "KARLOQ_QUOTA_PER_MINUTE": "1000",
    "KARLOQ_WORKER_QUEUES": "jobs",
}


@pytest.fixture
def stack(services: Services) -> Iterator[AppStack]:
    """One worker for jobs only, one for webhooks only, as production can run them."""
    app_stack = AppStack(Path(services.workdir) / "receiver-down", base_env(services, "local", **ENV))
    app_stack.start(workers=1)
    env = {**app_stack.env, "KARLOQ_WORKER_QUEUES": "webhooks"}
    app_stack.workers.append(start_worker(app_stack.workdir, env, name="webhook-worker"))
    yield app_stack
    app_stack.stop()


def run_batch(stack: AppStack, url: str) -> tuple[list[str], float]:
    """Submit JOBS jobs at once; their ids and the seconds until all of them succeeded."""
    started = time.monotonic()
    body = {"input": {"prompt": "a harbour crane", "width": 384, "height": 384}, "webhook": {"url": url}}
    ids = [submit(stack, body).json()["id"] for _ in range(JOBS)]
    for job_id in ids:
        assert wait_until_terminal(stack, job_id, timeout=90)["status"] == "succeeded"
    return ids, time.monotonic() - started


def test_every_event_arrives_after_an_outage_and_jobs_do_not_wait_for_it(stack: AppStack, services: Services) -> None:
    sim_control(services.sim_url, latency_ms=300)
    receiver = Receiver(Path(services.workdir), name="flaky-receiver").start()
    try:
        secret = rotate_secret(stack)
        _, with_receiver_up = run_batch(stack, receiver.hook("/up"))

        receiver.stop()
        down_ids, with_receiver_down = run_batch(stack, receiver.hook("/down"))
        time.sleep(1)
        receiver.start()
        receiver.script(status=500)
        time.sleep(3)
        receiver.script(status=429, retry_after=RETRY_AFTER)
        time.sleep(3)
        receiver.script(status=200)

        expected: dict[str, str] = {}
        for job_id in down_ids:
            for delivery in wait_for_deliveries(stack, job_id, count=2, statuses={"delivered"}, timeout=60):
                expected[delivery["id"]] = delivery["event"]
        records = receiver.received("/down")
        got = verified(receiver, secret, "/down", records)
    finally:
        receiver.stop()

    print(
        f"\n{JOBS} jobs with the receiver up: {with_receiver_up:.2f} s; "
        f"with it down: {with_receiver_down:.2f} s; {len(records)} requests for {len(expected)} events"
    )
    assert with_receiver_down < max(3 * with_receiver_up, with_receiver_up + 10)
    assert len(expected) == 2 * JOBS
    delivered_ids = [h["webhook-id"] for (h, _), r in zip(got, records, strict=True) if r["answered"] == 200]
    assert set(delivered_ids) == set(expected), "every event arrived, at least once"
    assert {h["webhook-id"] for h, _ in got} == set(expected), "retries reuse the event's webhook-id"
    assert all(h["karloq-event"] == expected[h["webhook-id"]] for h, _ in got)
    assert {r["answered"] for r in records} >= {500, 429, 200}
    _check_attempts(stack, down_ids)


def _check_attempts(stack: AppStack, job_ids: list[str]) -> None:
    """The first attempts found the port closed; after a 429 the next try waited for its Retry-After."""
    attempts: list[list[dict[str, Any]]] = [d["attempts"] for j in job_ids for d in deliveries(stack, j)]
    assert all(a[0]["outcome"] == "connection_error" for a in attempts)
    gaps = [
        _seconds(later["at"]) - _seconds(earlier["at"])
        for history in attempts
        for earlier, later in itertools.pairwise(history)
        if earlier["status_code"] == 429
    ]
    assert gaps and min(gaps) >= RETRY_AFTER - 0.1, gaps


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_a_delivery_worker_killed_mid_attempt_loses_no_event(services: Services) -> None:
    env = base_env(
        services,
        "local",
        **{**ENV, "KARLOQ_WEBHOOK_TIMEOUT_SECONDS": "8", "KARLOQ_WEBHOOK_DISPATCH_LEASE_SECONDS": "10"},
    )
    stack = AppStack(Path(services.workdir) / "delivery-worker-kill", env).start(workers=1)
    receiver = Receiver(Path(services.workdir), name="kill-receiver").start()
    try:
        doomed = start_worker(stack.workdir, {**stack.env, "KARLOQ_WORKER_QUEUES": "webhooks"}, name="doomed")
        stack.workers.append(doomed)
        secret = rotate_secret(stack)
        receiver.script("/kill", hang=60)
        body = {
            "input": {"prompt": "a lost letter", "width": 384, "height": 384},
            "webhook": {"url": receiver.hook("/kill"), "events": ["job.succeeded"]},
        }
        job_id = submit(stack, body).json()["id"]
        wait_until(lambda: len(receiver.received("/kill")) == 1, timeout=30, what="the attempt in flight")
        killed_at = time.monotonic()
        doomed.kill()
        receiver.script("/kill", status=200)
        stack.workers.append(start_worker(stack.workdir, {**stack.env, "KARLOQ_WORKER_QUEUES": "webhooks"}))
        [delivery] = wait_for_deliveries(stack, job_id, count=1, statuses={"delivered"}, timeout=90)
        recovered_after = time.monotonic() - killed_at
        got = verified(receiver, secret, "/kill")
    finally:
        receiver.stop()
        stack.stop()
    print(f"\ndelivery worker killed mid-attempt; delivered {recovered_after:.1f} s later (dispatch lease 10 s)")
    assert [a["outcome"] for a in delivery["attempts"]] == ["delivered"], "the lost attempt left no record"
    assert [h["webhook-id"] for h, _ in got] == [delivery["id"]] * 2
