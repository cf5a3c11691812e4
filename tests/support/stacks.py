"""Environment for API and worker processes pointed at the test's own Redis, simulator and storage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import redis

from karlo_core import keys, tenants
from karlo_core.queue import Queue
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import sim_control, start_api, start_worker
from support.api import Tenant

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SIM_KEY = "test-sim-key"
#: Redis databases 1-15 go to test stacks in turn, so a stack's workers never take another stack's jobs.
_DATABASES = itertools.cycle(range(1, 16))
#: Databases of stacks not stopped yet: a new stack never shares one with a stack whose workers still run.
_IN_USE: set[int] = set()


def _free_database() -> int:
    for _ in range(15):
        db = next(_DATABASES)
        if db not in _IN_USE:
            _IN_USE.add(db)
            return db
    raise RuntimeError("15 test stacks are running at once: stop some before starting another")


BUCKET = "karloq-test"
#: Tenants and API keys, issued when a stack starts; the state tests reset is everything else of ours.
IDENTITY_KEYS = (keys.tenants(), keys.tenant(""), keys.api_key(""))
#: Workers' presence (heartbeats, loaded backends), written on the workers' own schedule, never by a request.
WORKER_PRESENCE_KEYS = (keys.worker_heartbeats(), keys.backend_workers(""))


def job_state_keys(client: redis.Redis) -> list[str]:
    """Our keys other than tenants, API keys and workers' presence: what a refused request must not have written."""
    skipped = IDENTITY_KEYS + WORKER_PRESENCE_KEYS
    return [str(k) for k in client.scan_iter("karloq:*") if not str(k).startswith(skipped)]


@dataclass
class Services:
    """The long-lived servers of a test session."""

    workdir: Path
    redis_url: str
    sim_url: str
    s3_url: str


def base_env(services: Services, storage: str, **overrides: str) -> dict[str, str]:
    env = {
        "KARLOQ_REDIS_URL": services.redis_url,
        "KAKAO_REST_API_KEY": SIM_KEY,
        "KARLOQ_KARLO_BASE_URL": services.sim_url,
        "KARLOQ_LOG_LEVEL": "INFO",
        "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.5",
        "KARLOQ_RETRY_BASE_SECONDS": "0.2",
        "KARLOQ_RETRY_MAX_SECONDS": "1",
        "KARLOQ_WORKER_HEARTBEAT_SECONDS": "0.5",
        "KARLOQ_WORKER_HEARTBEAT_MAX_AGE_SECONDS": "3",
    }
    if storage == "s3":
        env.update(
            {
                "KARLOQ_STORAGE_URL": f"s3://{BUCKET}/images",
                "KARLOQ_S3_ENDPOINT_URL": services.s3_url,
                "KARLOQ_S3_ACCESS_KEY_ID": "testing",
                "KARLOQ_S3_SECRET_ACCESS_KEY": "testing",
                "KARLOQ_S3_ADDRESSING_STYLE": "path",
            }
        )
    else:
        env["KARLOQ_STORAGE_URL"] = f"file://{services.workdir / 'storage'}"
    env.update(overrides)
    return env


@dataclass
class AppStack:
    """An API process and its workers, started for a test module or a single test."""

    workdir: Path
    env: dict[str, str]
    api_url: str = ""
    api: ManagedProcess | None = None
    tenant: Tenant = field(init=False)
    workers: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.database = _free_database()
        self.env["KARLOQ_REDIS_URL"] = self.env["KARLOQ_REDIS_URL"].rsplit("/", 1)[0] + f"/{self.database}"

    @property
    def redis_url(self) -> str:
        return self.env["KARLOQ_REDIS_URL"]

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=True)

    @property
    def headers(self) -> dict[str, str]:
        """The first tenant's credentials: what the support helpers send when given the stack."""
        return self.tenant.headers

    def new_tenant(self, name: str) -> Tenant:
        with self.redis() as client:
            issued = tenants.issue_key(client, tenants.create_tenant(client, name))
        return Tenant(self.api_url, issued.tenant_id, issued.secret_key)

    def start(self, *, workers: int = 1) -> AppStack:
        # Databases are reused once the session has had 15 stacks: drop messages an earlier stack left queued
        # (kombu's routing tables stay, for workers still running on them).
        with self.redis() as client:
            for queue in Queue:
                for key in client.scan_iter(f"{queue.value}*"):
                    client.delete(key)
        self.api, self.api_url = start_api(self.workdir, self.env)
        # Workers render job links too (webhook bodies), so they must know where clients reach the API.
        self.env.setdefault("KARLOQ_PUBLIC_BASE_URL", self.api_url)
        self.tenant = self.new_tenant("tests")
        for _ in range(workers):
            self.add_worker()
        return self

    def add_worker(self) -> ManagedProcess:
        worker = start_worker(self.workdir, self.env, name=f"worker-{len(self.workers)}")
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for proc in [*self.workers, self.api]:
            if proc is not None:
                proc.stop()
        _IN_USE.discard(self.database)


def s3_client(s3_url: str) -> S3Client:
    """A client of the test S3 server, with the credentials the stacks use."""
    return boto3.client(
        "s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def sim_stats(sim_url: str) -> dict[str, object]:
    result: dict[str, object] = httpx.get(f"{sim_url}/_sim/stats", timeout=5).json()
    return result


@contextmanager
def quota_bound_stack(
    services: Services,
    name: str,
    *,
    limit: int,
    window: float,
    guard: float,
    concurrency: int,
    workers: int,
    **settings: str,
) -> Iterator[AppStack]:
    """A stack whose bottleneck is a short quota window (``limit`` images per ``window`` seconds, with its guard),
    no cap on active jobs, and the simulator enforcing the same quota on its side; ``settings`` are further
    ``KARLOQ_*`` variables."""
    env = base_env(
        services,
        "local",
        KARLOQ_QUOTA_PER_MINUTE=str(limit),
        KARLOQ_QUOTA_MINUTE_WINDOW_SECONDS=str(window),
        KARLOQ_QUOTA_WINDOW_GUARD_SECONDS=str(guard),
        KARLOQ_WORKER_CONCURRENCY=str(concurrency),
        KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT="0",
        **settings,
    )
    started = AppStack(Path(services.workdir) / name, env).start(workers=workers)
    sim_control(services.sim_url, quota={"per_window": limit, "window_seconds": window})
    try:
        yield started
    finally:
        started.stop()
