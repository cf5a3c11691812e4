"""``python -m karlo_worker [celery worker options]``: a worker with a thread pool for I/O-bound jobs."""

from __future__ import annotations

import socket
import sys

from karlo_core.exposition import make_registry
from karlo_core.logs import configure_logging
from karlo_core.queue import Queue
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_worker.celery_app import make_worker_app
from karlo_worker.exporter import start_exporter


def _queues(settings: Settings) -> str:
    """The queues named by KARLOQ_WORKER_QUEUES, checked against the known ones."""
    names = [q.strip() for q in settings.worker_queues.split(",") if q.strip()]
    return ",".join(Queue(name).value for name in names)


def main(argv: list[str]) -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    app = make_worker_app(settings)
    start_exporter(settings, make_registry(settings, make_redis(settings)))
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={settings.worker_concurrency}",
            f"--queues={_queues(settings)}",
            f"--loglevel={settings.log_level}",
            f"--hostname=karloq-worker@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
            *argv,
        ]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
