"""``python -m karlo_worker [celery worker options]``: a worker with a thread pool for I/O-bound jobs."""

from __future__ import annotations

import logging
import socket
import sys

from karlo_core.exposition import make_registry
from karlo_core.logs import configure_logging
from karlo_core.queue import Queue
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_worker.celery_app import make_worker_app
from karlo_worker.exporter import start_exporter
from karlo_worker.runtime import worker_queues

log = logging.getLogger("karlo_worker")
#: Celery's lines for every task received and finished repeat what the job's own lines say (one per status
#: change, with the job's context); its warnings and errors still show.
TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")


def _concurrency(settings: Settings, queues: list[str]) -> int:
    """A worker of open Karlo's queue runs one job at a time: one worker process per GPU."""
    return 1 if Queue.KARLO_OPEN.value in queues else settings.worker_concurrency


def main(argv: list[str]) -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    for name in TASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    queues = worker_queues(settings)
    try:
        app = make_worker_app(settings)
    except (RuntimeError, ModuleNotFoundError) as exc:
        log.critical("worker cannot start: %s", exc)
        raise SystemExit(f"karlo_worker: {exc}") from exc
    start_exporter(settings, make_registry(settings, make_redis(settings)))
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={_concurrency(settings, queues)}",
            f"--queues={','.join(queues)}",
            f"--loglevel={settings.log_level}",
            f"--hostname=karloq-worker@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
            *argv,
        ]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
