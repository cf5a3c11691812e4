"""The whole stack on one machine: Redis, the Karlo simulator (when no key is set), API and workers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

from karlo_core import tenants
from karlo_devstack.processes import ManagedProcess, port_open
from karlo_devstack.services import start_api, start_redis, start_simulator, start_worker, worker_metrics_url
from karlo_sim.config import DEFAULT_SIM_KEY

DEFAULT_API_PORT = 8000
DEV_KEY_FILE = "dev-api-key"


@dataclass
class Stack:
    workdir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    workers: int = 1
    processes: list[ManagedProcess] = field(default_factory=list)
    worker_processes: list[ManagedProcess] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    notes: list[str] = field(default_factory=list)
    api_key: str = ""

    def start(self) -> Stack:
        self.env = {k: v for k, v in self.environ.items() if k.startswith(("KARLOQ_", "KAKAO_", "AWS_"))}
        self.env.setdefault("KARLOQ_STORAGE_URL", f"file://{(self.workdir / 'storage').resolve()}")
        if "KARLOQ_REDIS_URL" not in self.env:
            proc, url = start_redis(self.workdir, persist=True)
            self.processes.append(proc)
            self.env["KARLOQ_REDIS_URL"] = url
            self.notes.append(f"redis: {url} (own instance, data in {self.workdir})")
        if not self.env.get("KAKAO_REST_API_KEY"):
            proc, url = start_simulator(self.workdir, {"KARLO_SIM_API_KEY": DEFAULT_SIM_KEY})
            self.processes.append(proc)
            self.env.update({"KAKAO_REST_API_KEY": DEFAULT_SIM_KEY, "KARLOQ_KARLO_BASE_URL": url})
            self.notes.append(f"karlo: local simulator at {url} (set KAKAO_REST_API_KEY to use Karlo)")
        else:
            self.notes.append(f"karlo: {self.env.get('KARLOQ_KARLO_BASE_URL', 'https://api.kakaobrain.com')}")
        self.notes.append(f"storage: {self.env['KARLOQ_STORAGE_URL']}")
        self.api_key = dev_api_key(self.env["KARLOQ_REDIS_URL"], self.workdir / DEV_KEY_FILE)
        proc, self.api_url = start_api(self.workdir, self.env, port=self._api_port())
        self.processes.append(proc)
        self.notes.append(f"metrics: {self.api_url}/metrics (API)")
        for index in range(self.workers):
            worker = start_worker(self.workdir, self.env, name=f"worker-{index}")
            self.processes.append(worker)
            self.worker_processes.append(worker)
            self.notes.append(f"metrics: {worker_metrics_url(worker)} (worker-{index})")
        return self

    def revive_workers(self) -> list[str]:
        """Start again every worker process that has exited (as a Deployment would); the names restarted."""
        revived = []
        for worker in self.worker_processes:
            if not worker.alive():
                worker.start()
                revived.append(worker.name)
        return revived

    def _api_port(self) -> int | None:
        """KARLOQ_API_PORT if set; else 8000 when it is free; else any free port."""
        if "KARLOQ_API_PORT" in self.env:
            return int(self.env["KARLOQ_API_PORT"])
        return None if port_open(DEFAULT_API_PORT) else DEFAULT_API_PORT

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


def dev_api_key(redis_url: str, path: Path) -> str:
    """The local stack's API key for a "dev" tenant: kept in ``path`` and reused while Redis still knows it."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        if path.exists():
            kept = path.read_text().strip()
            if tenants.authenticate(client, kept) is not None:
                return kept
        issued = tenants.issue_key(client, tenants.create_tenant(client, "dev"))
    path.write_text(issued.secret_key + "\n")
    path.chmod(0o600)
    return issued.secret_key
