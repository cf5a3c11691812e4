"""A private Prometheus server (Debian's ``prometheus`` binary) scraping given targets, for tests and demos."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from karlo_devstack.processes import ManagedProcess, free_port, http_ok


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise RuntimeError("prometheus not found: install Debian's prometheus package (make install does)")
    return found


def scrape_config(
    targets: Mapping[str, Sequence[str]], *, interval: str = "1s", rule_files: Sequence[Path] = ()
) -> dict[str, Any]:
    """One scrape job per entry of ``targets`` (job name -> ``host:port`` list), all on ``/metrics``."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": list(hosts)}]}
            for job, hosts in targets.items()
        ],
    }


def start_prometheus(workdir: Path, config: Mapping[str, Any]) -> tuple[ManagedProcess, str]:
    """Prometheus on a free port, with its own config file and data directory under ``workdir``."""
    port = free_port()
    home = workdir / f"prometheus-{port}"
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    argv = [
        prometheus_binary(),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
    proc = ManagedProcess("prometheus", argv, log_path=workdir / "logs" / f"prometheus-{port}.log").start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/-/ready"), timeout=30)
    return proc, url
