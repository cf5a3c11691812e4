"""The whole stack on one machine: Redis, the Karlo simulator (when no key is set), API and workers.

Every process gets the same settings, the API's public address among them (workers render job links in
webhook bodies). The stack's own Redis keeps its data in ``<workdir>/redis``, so a restart finds the jobs,
keys and quota counters of the previous run. The settings other tools need to reach this stack (the admin
CLI: ``--env-file <workdir>/stack.env``) are written to :data:`STACK_ENV_FILE`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

from karlo_core import keys, tenants
from karlo_devstack.processes import ManagedProcess, free_port, port_open
from karlo_devstack.services import start_api, start_redis, start_simulator, start_worker, worker_metrics_url
from karlo_sim.config import DEFAULT_SIM_KEY

DEFAULT_API_PORT = 8000
DEV_KEY_FILE = "dev-api-key"
#: ``KEY=VALUE`` lines: the settings that point a tool at this stack (its Redis, storage, public address).
STACK_ENV_FILE = "stack.env"
#: The settings written to :data:`STACK_ENV_FILE` (never credentials).
STACK_ENV_SETTINGS = (
    "KARLOQ_REDIS_URL",
    "KARLOQ_STORAGE_URL",
    "KARLOQ_PUBLIC_BASE_URL",
    "KARLOQ_KARLO_BASE_URL",
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS",
    "KARLOQ_WEBHOOK_ALLOW_HTTP",
)
#: Webhook receivers the dev stack allows besides public https ones: any on this machine, over plain http.
DEV_WEBHOOK_NETWORKS = "127.0.0.0/8"
REDIS_DATA_DIR = "redis"


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
        api_port = self._api_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        # Every process renders links with it: the API in job views, the workers in webhook bodies.
        self.env.setdefault("KARLOQ_PUBLIC_BASE_URL", self.api_url)
        if "KARLOQ_WEBHOOK_ALLOW_NETWORKS" not in self.env:
            self.env["KARLOQ_WEBHOOK_ALLOW_NETWORKS"] = DEV_WEBHOOK_NETWORKS
            self.env["KARLOQ_WEBHOOK_ALLOW_HTTP"] = "true"
            self.notes.append(f"webhooks: receivers on {DEV_WEBHOOK_NETWORKS} allowed, over http too (dev only)")
        if "KARLOQ_REDIS_URL" not in self.env:
            data = self.workdir / REDIS_DATA_DIR
            proc, url = start_redis(self.workdir, persist=True, data_dir=data)
            self.processes.append(proc)
            self.env["KARLOQ_REDIS_URL"] = url
            self.notes.append(f"redis: {url} (own instance; data kept in {data})")
            self.notes.append(previous_run_note(url, data))
        if not self.env.get("KAKAO_REST_API_KEY"):
            proc, url = start_simulator(self.workdir, {"KARLO_SIM_API_KEY": DEFAULT_SIM_KEY})
            self.processes.append(proc)
            self.env.update({"KAKAO_REST_API_KEY": DEFAULT_SIM_KEY, "KARLOQ_KARLO_BASE_URL": url})
            self.notes.append(f"karlo: local simulator at {url} (set KAKAO_REST_API_KEY to use Karlo)")
        else:
            self.notes.append(f"karlo: {self.env.get('KARLOQ_KARLO_BASE_URL', 'https://api.kakaobrain.com')}")
        self.notes.append(f"storage: {self.env['KARLOQ_STORAGE_URL']}")
        self.api_key = dev_api_key(self.env["KARLOQ_REDIS_URL"], self.workdir / DEV_KEY_FILE)
        write_stack_env(self.workdir / STACK_ENV_FILE, self.env)
        proc, _ = start_api(self.workdir, self.env, port=api_port)
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

    def _api_port(self) -> int:
        """KARLOQ_API_PORT if set; else 8000 when it is free; else any free port."""
        if "KARLOQ_API_PORT" in self.env:
            return int(self.env["KARLOQ_API_PORT"])
        return free_port() if port_open(DEFAULT_API_PORT) else DEFAULT_API_PORT

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


def previous_run_note(redis_url: str, data: Path) -> str:
    """What a restart found in the Redis data directory: jobs, tenants and keys kept from the last run."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        found_tenants = client.scard(keys.tenants())
        found_jobs = sum(1 for key in client.scan_iter(keys.job("*"), count=1000) if key.count(":") == 2)
    if not found_tenants:
        return f"first run on {data}: a new, empty Redis"
    return (
        f"restarted on {data}: kept {found_jobs} jobs, {found_tenants} tenants with their keys, "
        "and the quota counters of the previous run"
    )


def write_stack_env(path: Path, env: Mapping[str, str]) -> None:
    """The settings that reach this stack, as ``KEY=VALUE`` lines (``--env-file`` of the admin CLI)."""
    lines = [f"{name}={env[name]}" for name in STACK_ENV_SETTINGS if name in env]
    path.write_text("# Written by `make run`: how to reach the running dev stack.\n" + "\n".join(lines) + "\n")


def dev_api_key(redis_url: str, path: Path) -> str:
    """The local stack's API key for a "dev" tenant: kept in ``path`` and reused while Redis still knows it."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        if path.exists():
            kept = path.read_text().strip()
            if tenants.authenticate(client, kept) is not None:
                return kept
        issued = tenants.issue_key(client, tenants.create_tenant(client, "dev"))
    write_private(path, issued.secret_key + "\n")
    return issued.secret_key


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only from the first byte on.

    The content goes to a new file created with mode 0600 (``O_EXCL``, so never an existing file someone
    else may read) and is then renamed over ``path``; an older, wider-open file is replaced, not reused.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only narrow the mode; this pins it whatever the umask is
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
