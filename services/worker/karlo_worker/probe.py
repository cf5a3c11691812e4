"""``python -m karlo_worker.probe``: exit 0 while the worker's heartbeat file is fresh, 1 otherwise.

Meant for a Kubernetes liveness probe: it reads one file's age and never calls the broker, so a busy worker or
a Redis outage does not get the pod restarted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from karlo_core.settings import Settings


def heartbeat_age(path: Path, *, now: float) -> float | None:
    """Seconds since the heartbeat file was last touched, or None when there is none."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return None


def main() -> int:
    settings = Settings()
    path = Path(settings.worker_heartbeat_file)
    age = heartbeat_age(path, now=time.time())
    if age is None:
        print(f"unhealthy: no heartbeat file at {path}")
        return 1
    if age > settings.worker_heartbeat_max_age_seconds:
        print(f"unhealthy: heartbeat is {age:.1f}s old (max {settings.worker_heartbeat_max_age_seconds:g}s)")
        return 1
    print(f"ok: heartbeat {age:.1f}s old")
    return 0


if __name__ == "__main__":
    sys.exit(main())
