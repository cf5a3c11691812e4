"""A real Prometheus server scrapes the API and two workers while jobs run; its HTTP API shows the jobs,
quota, queue, worker and webhook series with the values the jobs imply, and the alerts go pending."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from karlo_devstack.processes import ManagedProcess
from karlo_devstack.prometheus import scrape_config, start_prometheus
from karlo_devstack.services import sim_control, worker_metrics_url
from support.api import submit, wait_for_status, wait_until_terminal
from support.prometheus import query, require_prometheus, value, wait_for_value
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env
from support.webhooks import rotate_secret, wait_for_deliveries

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
#: A day's quota of six images, spent exactly by the three two-image jobs: the quota alert must go pending.
DAY_QUOTA = 6
MINUTE_QUOTA = 4
JOB = {"input": {"prompt": "an observatory at night", "width": 384, "height": 384, "samples": 2}}
ONE_IMAGE = {"input": {"prompt": "refused upstream", "width": 384, "height": 384}}


def host_port(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


@pytest.fixture
def observed(services: Services) -> Iterator[tuple[AppStack, str]]:
    require_prometheus()
    env = base_env(
        services,
        "local",
        KARLOQ_QUOTA_PER_MINUTE=str(MINUTE_QUOTA),
        KARLOQ_QUOTA_MINUTE_WINDOW_SECONDS="4",
        KARLOQ_QUOTA_WINDOW_GUARD_SECONDS="0.1",
        KARLOQ_QUOTA_PER_DAY=str(DAY_QUOTA),
        KARLOQ_SWEEP_INTERVAL_SECONDS="0.2",
        KARLOQ_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8",
        KARLOQ_WEBHOOK_ALLOW_HTTP="true",
        KARLOQ_WEBHOOK_RETRY_SCHEDULE="0.2s",
        KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS="0.2",
    )
    stack = AppStack(services.workdir / "observability", env).start(workers=2)
    targets = {
        "karlo-queue-api": [host_port(stack.api_url)],
        "karlo-queue-worker": [host_port(worker_metrics_url(worker)) for worker in stack.workers],
    }
    prometheus: ManagedProcess | None = None
    try:
        prometheus, url = start_prometheus(stack.workdir, scrape_config(targets, interval="1s", rule_files=[ALERTS]))
        yield stack, url
    finally:
        if prometheus is not None:
            prometheus.stop()
        stack.stop()


def test_prometheus_sees_jobs_quota_queue_and_workers(observed: tuple[AppStack, str], services: Services) -> None:
    stack, prom = observed
    wait_for_value(prom, "count(up == 1)", lambda n: n == 3)
    wait_for_value(prom, "max(karlo_queue_workers_live)", lambda n: n == 2)
    # Test stacks share Redis databases by turns: a message a killed worker left unacked here still counts.
    depth = 'max(karlo_queue_queue_depth{queue="jobs"})'
    base_depth = wait_for_value(prom, depth, lambda n: n >= 0)

    # One job Karlo refuses (-2): failed at once, its reservation refunded.
    sim_control(services.sim_url, faults=[{"code": -2, "http_status": 400, "msg": "bad parameter", "times": 1}])
    refused = wait_until_terminal(stack, submit(stack, ONE_IMAGE).json()["id"])
    assert refused["status"] == "failed"

    # Three two-image jobs against a four-image minute: one of them waits for quota.
    sim_control(services.sim_url, latency_ms=800)
    ids = [submit(stack, JOB).json()["id"] for _ in range(3)]
    assert any(wait_for_status(stack, i, {"waiting_for_quota", "succeeded"})["status"] != "succeeded" for i in ids)
    jobs = [wait_until_terminal(stack, job_id, timeout=60) for job_id in ids]
    assert {job["status"] for job in jobs} == {"succeeded"}

    # Counters, summed over the processes that counted them.
    finished = 'sum(karlo_queue_jobs_finished_total{kind="generate", outcome="%s"})'
    assert wait_for_value(prom, finished % "succeeded", lambda n: n == 3) == 3
    assert wait_for_value(prom, finished % "failed", lambda n: n == 1) == 1
    assert wait_for_value(prom, 'sum(karlo_queue_jobs_accepted_total{kind="generate"})', lambda n: n == 4) == 4
    assert value(prom, 'sum(karlo_queue_upstream_calls_total{endpoint="t2i", outcome="ok"})') == 3
    assert value(prom, 'sum(karlo_queue_upstream_calls_total{outcome="rejected", code="-2"})') == 1
    assert value(prom, "sum(karlo_queue_images_stored_total)") == 6
    assert value(prom, 'sum(karlo_queue_quota_reservations_total{outcome="refunded"})') == 1
    assert value(prom, 'sum(karlo_queue_quota_reservations_total{outcome="granted"})') == 4
    assert (value(prom, 'sum(karlo_queue_quota_reservations_total{outcome="denied"})') or 0) >= 1
    assert (value(prom, "sum(karlo_queue_job_quota_wait_seconds_count)") or 0) >= 1
    assert value(prom, "sum(karlo_queue_job_end_to_end_seconds_count)") == 4
    assert value(prom, "sum(karlo_queue_job_queued_seconds_count)") == 4
    waited = value(prom, "histogram_quantile(1, sum by (le) (karlo_queue_job_quota_wait_seconds_bucket))")
    assert waited is not None and waited > 0

    # API requests by route template, never by raw path.
    posts = 'sum(karlo_queue_api_requests_total{route="/v1/jobs", method="POST", status="202"})'
    assert value(prom, posts) == 4
    assert (value(prom, 'sum(karlo_queue_api_requests_total{route="/v1/jobs/{job_id}", status="200"})') or 0) > 4
    assert query(prom, 'karlo_queue_api_requests_total{route=~".*01[0-9a-z]{24}.*"}') == []

    # Shared state read from Redis at scrape time: every process reports the same numbers.
    used_day = 'karlo_queue_quota_used_images{window="day"}'
    wait_for_value(prom, f"min({used_day})", lambda n: n == DAY_QUOTA)
    assert value(prom, f"max({used_day})") == DAY_QUOTA
    assert value(prom, 'max(karlo_queue_quota_remaining_images{window="day"})') == 0
    assert value(prom, 'max(karlo_queue_quota_limit_images{window="minute"})') == MINUTE_QUOTA
    assert value(prom, 'count(karlo_queue_quota_limit_images{window="minute"})') == 3  # API and both workers
    assert (value(prom, 'max(max_over_time(karlo_queue_queue_depth{queue="jobs"}[5m]))') or 0) >= base_depth + 1
    assert (value(prom, 'max(max_over_time(karlo_queue_jobs_active{status="waiting_for_quota"}[5m]))') or 0) >= 1
    wait_for_value(prom, depth, lambda n: n == base_depth)
    assert value(prom, 'max(karlo_queue_jobs_active{status="running"})') == 0

    # The day's quota is spent: a fifth job waits for tomorrow, until it is canceled (counted by the API).
    late = submit(stack, ONE_IMAGE).json()["id"]
    wait_for_status(stack, late, {"waiting_for_quota"})
    wait_for_value(prom, 'max(karlo_queue_jobs_active{status="waiting_for_quota"})', lambda n: n == 1)
    canceled = httpx.post(f"{stack.api_url}/v1/jobs/{late}/cancel", headers=stack.headers, timeout=10)
    assert canceled.status_code == 200, canceled.text
    assert wait_for_value(prom, finished % "canceled", lambda n: n == 1) == 1
    assert value(prom, 'sum(karlo_queue_jobs_accepted_total{kind="generate"})') == 5
    wait_for_value(prom, 'max(karlo_queue_jobs_active{status="waiting_for_quota"})', lambda n: n == 0)

    # The shipped alert rules run in this Prometheus: the day quota is spent, so its alert is pending.
    wait_for_value(prom, 'count(ALERTS{alertname="KarloQuotaNearlySpent", window="day"})', lambda n: n == 1)
    assert query(prom, 'ALERTS{alertname="KarloNoLiveWorkers"}') == []


@pytest.fixture
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir), "obs-receiver").start()
    yield started
    started.stop()


def test_prometheus_sees_webhook_deliveries_and_dead_letters(
    observed: tuple[AppStack, str], receiver: Receiver
) -> None:
    stack, prom = observed
    wait_for_value(prom, "count(up == 1)", lambda n: n == 3)
    rotate_secret(stack)
    receiver.script("/dead", status=500)
    small = {"input": {"prompt": "a hook", "width": 384, "height": 384}}
    delivered = submit(stack, {**small, "webhook": {"url": receiver.hook("/ok")}}).json()["id"]
    given_up = submit(stack, {**small, "webhook": {"url": receiver.hook("/dead"), "events": ["job.succeeded"]}})
    wait_for_deliveries(stack, delivered, count=2, statuses={"delivered"})
    wait_for_deliveries(stack, given_up.json()["id"], count=1, statuses={"dead"})

    attempts = 'sum(karlo_queue_webhook_attempts_total{outcome="%s"})'
    assert wait_for_value(prom, attempts % "delivered", lambda n: n == 2) == 2
    assert wait_for_value(prom, attempts % "http_error", lambda n: n == 2) == 2  # the first try and one retry
    dead = 'sum(karlo_queue_webhook_dead_letters_total{event="job.succeeded"})'
    assert wait_for_value(prom, dead, lambda n: n == 1) == 1
    lag = 'sum(karlo_queue_webhook_delivery_lag_seconds_count{event=~"job.started|job.succeeded"})'
    assert wait_for_value(prom, lag, lambda n: n == 2) == 2
    assert (value(prom, 'max(max_over_time(karlo_queue_queue_depth{queue="webhooks"}[5m]))') or 0) >= 0
    wait_for_value(prom, 'count(ALERTS{alertname="KarloWebhookDeadLetters"})', lambda n: n == 1)
