"""KARLOQ_ACCEPT_DURABILITY: a 202 can wait for the AOF fsync (Redis 7.2+) or for replicas, and a Redis
that cannot give what is asked stops the API from starting rather than breaking the promise."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from karlo_core import keys
from karlo_core.durability import WAITAOF_SINCE, DurabilityUnsupported, DurabilityWaiter, redis_version
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_redis, start_replica
from support.api import submit
from support.stacks import AppStack, Services, base_env


@pytest.fixture(scope="module")
def primary_and_replica(services: Services) -> Iterator[tuple[str, str]]:
    workdir = Path(services.workdir) / "durability"
    started: list[ManagedProcess] = []
    try:
        primary, primary_url = start_redis(workdir, persist=True)
        started.append(primary)
        replica, replica_url = start_replica(workdir, primary_url)
        started.append(replica)
        yield primary_url, replica_url
    finally:
        for proc in reversed(started):
            proc.stop()


def server_version(url: str) -> tuple[int, ...]:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return redis_version(str(client.info("server")["redis_version"]))


def test_waiting_for_a_replica_confirms_and_times_out_without_one(primary_and_replica: tuple[str, str]) -> None:
    primary_url, _ = primary_and_replica
    with redis.Redis.from_url(primary_url, decode_responses=True) as client:
        assert DurabilityWaiter(client, mode="replica", replicas=1, timeout_ms=2000).wait()
        assert not DurabilityWaiter(client, mode="replica", replicas=2, timeout_ms=50).wait()
        assert DurabilityWaiter(client, mode="memory", replicas=1, timeout_ms=1).wait()


def test_aof_mode_is_refused_clearly_where_redis_has_no_waitaof(primary_and_replica: tuple[str, str]) -> None:
    primary_url, _ = primary_and_replica
    with redis.Redis.from_url(primary_url, decode_responses=True) as client:
        waiter = DurabilityWaiter(client, mode="aof", replicas=1, timeout_ms=1000)
        if server_version(primary_url) >= WAITAOF_SINCE:
            waiter.check_supported()
            assert waiter.wait()
            return
        with pytest.raises(DurabilityUnsupported, match=r"needs Redis 7\.2 or later; this Redis is 7\."):
            waiter.check_supported()


def test_the_api_does_not_start_with_a_durability_redis_cannot_give(services: Services) -> None:
    if server_version(services.redis_url) >= WAITAOF_SINCE:
        pytest.skip("this Redis has WAITAOF; its refusal of an AOF-less Redis is covered by the unit check")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KARLOQ_", "KAKAO_"))},
        **base_env(services, "local"),
        "KARLOQ_ACCEPT_DURABILITY": "aof",
        "KARLOQ_API_PORT": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "karlo_api"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "KARLOQ_ACCEPT_DURABILITY=aof waits with WAITAOF, which needs Redis 7.2" in done.stderr


def test_jobs_are_accepted_once_a_replica_has_them(services: Services, primary_and_replica: tuple[str, str]) -> None:
    primary_url, replica_url = primary_and_replica
    env = base_env(services, "local", KARLOQ_ACCEPT_DURABILITY="replica")
    app_stack = AppStack(Path(services.workdir) / "durable-api", env)
    db = app_stack.redis_url.rsplit("/", 1)[1]
    app_stack.env["KARLOQ_REDIS_URL"] = primary_url.rsplit("/", 1)[0] + f"/{db}"
    app_stack.start(workers=0)
    try:
        response = submit(app_stack, {"input": {"prompt": "a vault"}})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        # The 202 came after the replica acknowledged: the job is there already, no waiting needed.
        with redis.Redis.from_url(replica_url.rsplit("/", 1)[0] + f"/{db}", decode_responses=True) as replica:
            assert replica.hget(keys.job(job_id), "status") == "queued"
    finally:
        app_stack.stop()
