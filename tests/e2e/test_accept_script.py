"""Accepting a job is one script (``lua/job_accept.lua``): it records the job in its tenant's queue and runs one
dispatch step, whose queue message is the one Celery itself sends; a real worker runs it, and whatever stops the
script (a refusal, a queue that cannot take a push, Redis killed mid-flood) leaves every job in its tenant's queue
or handed out with its message, and no message without its job."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis

from karlo_core import keys
from karlo_core.broker import jobs_with_messages
from karlo_core.errors import TooManyActiveJobs
from karlo_core.job_accept import AbovePlanPriority, AcceptCall, Accepted, JobAcceptor, QuotaSpent
from karlo_core.jobs import Job
from karlo_core.queue import RUN_JOB_TASK, enqueue_job, make_celery
from karlo_core.quota.buckets import QuotaBuckets
from karlo_core.quota.policy import UNLIMITED
from karlo_core.redis_pipe import PipelinedRedis
from karlo_core.scheduler import Scheduler
from karlo_core.settings import Settings
from karlo_devstack.processes import ManagedProcess, wait_until
from karlo_devstack.services import start_redis
from support.api import submit, wait_until_terminal
from support.jobs import new_job
from support.stacks import AppStack, Services, base_env

BODY = {"input": {"prompt": "one round trip", "width": 384, "height": 384}}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    proc, url = start_redis(tmp_path, persist=False)
    yield url
    proc.stop()


def _job(tenant: str = "t_test") -> Job:
    return new_job(tenant=tenant)


Outcome = Accepted | QuotaSpent | AbovePlanPriority | Exception


def _accept(url: str, calls: list[AcceptCall], *, flush_scripts_at: int | None = None) -> list[Outcome]:
    """Run the accept script for each call, in order, on a fresh pipelined connection as the API does
    (``karlo_core.redis_pipe``); with ``flush_scripts_at``, Redis forgets its scripts before that call."""

    async def main() -> list[Outcome]:
        client = PipelinedRedis(url)
        sync = redis.Redis.from_url(url, decode_responses=True)
        buckets = QuotaBuckets(sync, tz=ZoneInfo("Asia/Seoul"), minute_seconds=61)
        settings = Settings(redis_url=url, _env_file=None)  # type: ignore[call-arg]
        acceptor = JobAcceptor(client, buckets, Scheduler(sync, settings, buckets), settings, events=None)
        outcomes: list[Outcome] = []
        try:
            for i, call in enumerate(calls):
                if i == flush_scripts_at:
                    sync.script_flush()
                try:
                    outcomes.append(await acceptor.accept(call))
                except Exception as exc:
                    outcomes.append(exc)
        finally:
            await client.aclose()
            sync.close()
        return outcomes

    return asyncio.run(main())


def _call(job: Job, **changes: Any) -> AcceptCall:
    return replace(AcceptCall(job=job, images=1), **changes)


def test_the_scripts_message_is_the_one_celery_sends(private_redis: str) -> None:
    client = redis.Redis.from_url(private_redis, decode_responses=True)
    celery = make_celery(Settings(redis_url=private_redis, _env_file=None), "compare")  # type: ignore[call-arg]
    enqueue_job(celery, "0" * 26)
    sent = json.loads(client.rpop("jobs"))
    job = _job()
    assert isinstance(_accept(private_redis, [_call(job)])[0], Accepted)
    made = json.loads(client.rpop("jobs"))

    assert set(made) == set(sent)
    assert {k: made[k] for k in ("content-type", "content-encoding")} == {
        k: sent[k] for k in ("content-type", "content-encoding")
    }
    per_message = {"id", "root_id", "origin", "kwargsrepr"}
    assert set(made["headers"]) == set(sent["headers"])
    assert {k: v for k, v in made["headers"].items() if k not in per_message} == {
        k: v for k, v in sent["headers"].items() if k not in per_message
    }
    assert made["headers"]["task"] == RUN_JOB_TASK
    assert made["headers"]["kwargsrepr"] == sent["headers"]["kwargsrepr"].replace("0" * 26, job.id)
    assert made["headers"]["root_id"] == made["headers"]["id"] == made["properties"]["correlation_id"]
    # kombu base64-encodes the body by default; a message without body_encoding carries it as it is
    sent_body = json.loads(base64.b64decode(sent["body"]))
    assert sent["properties"].pop("body_encoding") == "base64"
    assert json.loads(made["body"]) == [[], {"job_id": job.id}, sent_body[2]]
    assert sent_body[:2] == [[], {"job_id": "0" * 26}]
    varying = {"correlation_id", "delivery_tag", "reply_to", "delivery_info"}
    assert set(made["properties"]) == set(sent["properties"])
    assert {k: v for k, v in made["properties"].items() if k not in varying} == {
        k: v for k, v in sent["properties"].items() if k not in varying
    }
    assert made["properties"]["delivery_info"] == {"exchange": "", "routing_key": "jobs"}
    assert made["properties"]["delivery_tag"] != sent["properties"]["delivery_tag"]
    client.close()


def test_a_script_forgotten_by_redis_is_loaded_again_and_the_accept_goes_through(private_redis: str) -> None:
    """After a restart or a flush Redis no longer knows the script: the accept loads it and runs it once."""
    client = redis.Redis.from_url(private_redis, decode_responses=True)
    first, second = _job(), _job()
    outcomes = _accept(private_redis, [_call(first), _call(second)], flush_scripts_at=1)
    assert [type(o) for o in outcomes] == [Accepted, Accepted]
    assert jobs_with_messages(client, "jobs") == {first.id, second.id}
    # each refused once (by a Redis that never saw the script, then by one that forgot it), then run
    assert client.info("commandstats")["cmdstat_evalsha"]["calls"] == 4
    client.close()


def test_refusals_write_nothing_and_a_queue_that_cannot_take_a_push_refuses_nothing(private_redis: str) -> None:
    """The script reads the tenant's plan itself (its cap, highest priority and quota share), so a plan
    change applies to the very next accept."""
    client = redis.Redis.from_url(private_redis, decode_responses=True)
    first, capped, spent, too_high = _job(), _job(), _job(), replace(_job(), priority="high")
    client.hset(keys.plan("t_test"), mapping={"max_active": 1, "per_day": 2, "max_priority": "normal"})
    outcomes = _accept(
        private_redis,
        [
            _call(first, check_share=True),
            _call(capped),
            _call(spent, check_share=True, images=3),
            _call(too_high),
        ],
    )
    assert isinstance(outcomes[0], Accepted)
    assert outcomes[0].step.pushed and [h.job_id for h in outcomes[0].step.handed] == [first.id]
    assert [[u.limit for u in scope] for scope in outcomes[0].usages][1] == [UNLIMITED, 2, UNLIMITED]
    assert isinstance(outcomes[1], TooManyActiveJobs)
    assert isinstance(outcomes[2], QuotaSpent)
    assert [u.window for u in outcomes[2].usages[1]] == ["minute", "day", "month"]
    assert outcomes[3] == AbovePlanPriority("normal")
    for refused in (capped, spent, too_high):
        assert not client.exists(keys.job(refused.id))
        assert client.zscore(keys.tenant_jobs("t_test"), refused.id) is None
        assert client.zscore(keys.job_deadlines(), refused.id) is None
        assert client.zscore(keys.sched_queue("karlo", "t_test"), refused.id) is None
    assert jobs_with_messages(client, "jobs") == {first.id}

    client.delete(keys.plan("t_test"))  # the defaults again: no cap, so the next job is accepted at once
    client.set("jobs", "not a list")  # the step must find this before it pushes anything
    unpushed = _job()
    [kept] = _accept(private_redis, [_call(unpushed)])
    assert isinstance(kept, Accepted)
    assert not kept.step.pushed and [h.job_id for h in kept.step.handed] == [unpushed.id]
    assert client.zscore(keys.job_deadlines(), unpushed.id) is not None  # for the sweeper to send it
    assert client.get("jobs") == "not a list"
    client.close()


@pytest.fixture
def stack(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "accept-script", base_env(services, "local")).start(workers=0)
    yield app_stack
    app_stack.stop()


def test_a_celery_worker_runs_the_job_the_script_queued(stack: AppStack) -> None:
    with stack.redis() as client:
        job_id = submit(stack, BODY).json()["id"]
        assert client.llen("jobs") == 1
        assert jobs_with_messages(client, "jobs") == {job_id}
        assert client.hget(keys.job(job_id), "dispatched_at")
        message = json.loads(client.lindex("jobs", 0))
    assert "body_encoding" not in message["properties"]  # the script's message: Celery's client sets base64
    stack.add_worker()
    assert wait_until_terminal(stack, job_id, timeout=60)["status"] == "succeeded"


def test_a_queue_that_cannot_take_the_message_keeps_the_job_under_its_idempotency_key(stack: AppStack) -> None:
    headers = {"Idempotency-Key": "kept-then-sent"}
    with stack.redis() as client:
        client.set("jobs", "not a list")
        kept = submit(stack, BODY, headers=headers)
        assert kept.status_code == 202, kept.text
        job_id = kept.json()["id"]
        assert client.zscore(keys.job_deadlines(), job_id) is not None  # the sweeper sends it once it can
        assert client.exists(keys.idempotency(stack.tenant.tenant_id, "kept-then-sent"))
        client.delete("jobs")
        again = submit(stack, BODY, headers=headers)
        assert again.status_code == 202, again.text
        assert again.json()["id"] == job_id


def test_redis_killed_mid_accept_leaves_every_job_with_its_message(services: Services) -> None:
    """Accepts flood the API while Redis is SIGKILLed and restarted on its append-only file: every job
    recorded is in its tenant's queue or has its message (never both), every message has its job, and every job
    answered 202 is there."""
    workdir = services.workdir / "accept-kill"
    redis_proc, redis_url = start_redis(workdir, persist=True)
    port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    stack = AppStack(workdir, base_env(services, "local", KARLOQ_REDIS_URL=redis_url)).start(workers=0)
    accepted: list[str] = []
    stop = threading.Event()

    def flood() -> None:
        with httpx.Client(timeout=10, headers=stack.headers) as http:
            while not stop.is_set():
                try:
                    answer = http.post(f"{stack.api_url}/v1/jobs", json=BODY)
                except httpx.HTTPError:
                    continue
                if answer.status_code == 202:
                    accepted.append(answer.json()["id"])

    procs: list[ManagedProcess] = [redis_proc]
    threads = [threading.Thread(target=flood) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: len(accepted) >= 50, timeout=60, what="accepts under way")
        procs[0].kill()
        killed_after = len(accepted)
        time.sleep(0.5)
        procs[0], _ = start_redis(workdir, port, persist=True)
        wait_until(lambda: len(accepted) >= killed_after + 50, timeout=60, what="accepts after the restart")
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        with stack.redis() as client:
            found = client.scan_iter(keys.job("*"))
            recorded = {str(k).removeprefix(keys.job("")) for k in found if str(k).count(":") == 2}
            indexed = {str(m) for m in client.zrange(keys.tenant_jobs(stack.tenant.tenant_id), 0, -1)}
            sent = jobs_with_messages(client, "jobs")
            waiting = {str(m) for m in client.zrange(keys.sched_queue("karlo", stack.tenant.tenant_id), 0, -1)}
        assert set(accepted) <= recorded
        assert recorded == sent | waiting
        assert not sent & waiting
        assert indexed == recorded
    finally:
        stop.set()
        stack.stop()
        procs[0].stop()
