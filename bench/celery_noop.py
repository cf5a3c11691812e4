"""The bare Celery baseline of the worker benchmark: a worker app with the queue's own settings
(:func:`karlo_core.queue.make_celery`: late acks, prefetch 1) and one task that does nothing.

``celery -A bench.celery_noop worker --pool=threads --concurrency=N -Q noop`` with ``KARLOQ_REDIS_URL`` set.
"""

from __future__ import annotations

from karlo_core.queue import make_celery
from karlo_core.settings import Settings

NOOP_TASK = "bench.noop"
NOOP_QUEUE = "noop"

app = make_celery(Settings(), "bench_noop")


@app.task(name=NOOP_TASK, queue=NOOP_QUEUE, ignore_result=True)
def noop() -> None:
    """Nothing: what Celery itself costs per task."""
