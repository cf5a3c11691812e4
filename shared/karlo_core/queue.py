"""Celery wiring shared by the API (which only sends) and the workers (which consume).

Messages carry only a job id; the job store, not Celery's result backend, is the source of truth.
"""

from __future__ import annotations

import ssl
from enum import StrEnum

from celery import Celery

from karlo_core.broker import TRANSPORT
from karlo_core.settings import Settings


class Queue(StrEnum):
    JOBS = "jobs"
    #: Webhook deliveries: a slow or dead receiver only ever holds up workers of this queue.
    WEBHOOKS = "webhooks"
    #: Jobs for the open Karlo backend: consumed only by workers started for it, one job per GPU.
    KARLO_OPEN = "karlo-open"


RUN_JOB_TASK = "karloq.jobs.run"
DELIVER_WEBHOOK_TASK = "karloq.webhooks.deliver"


def make_celery(settings: Settings, name: str) -> Celery:
    """A Celery app configured for at-least-once delivery of idempotent tasks over Redis."""
    app = Celery(name, broker=settings.celery_broker_url, set_as_current=False)
    transport = {"visibility_timeout": settings.visibility_timeout_seconds}
    if settings.celery_broker_url.startswith(("redis://", "rediss://")):
        # kombu's Redis transport, whose closed channels fail as connection errors (see karlo_core.broker).
        app.conf.broker_transport = TRANSPORT
    if settings.celery_broker_url.startswith("rediss://"):
        # TLS with the server's certificate verified, as the other Redis clients do (against the system's CAs or
        # SSL_CERT_FILE, or the URL's ``ssl_ca_certs``); kombu alone would skip the check when the URL names no
        # ``ssl_*`` option. The URL's ``ssl_*`` options, when it has any, replace these.
        app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=Queue.JOBS.value,
        # Acknowledge after the task ran, so a crashed worker's message is delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # The same visibility timeout wherever kombu reads one.
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        task_ignore_result=True,
        result_backend=None,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def enqueue_job(app: Celery, job_id: str, *, queue: str = Queue.JOBS.value) -> None:
    """Send the run-job message to ``queue`` (the job's backend's), to run now; retries the broker connection
    briefly before giving up.

    There is no delayed variant: a worker holds a countdown message unacknowledged until it is due, and
    loses it if it dies. Delays live on the job store's schedule, which sends the message when due.
    """
    app.send_task(
        RUN_JOB_TASK,
        kwargs={"job_id": job_id},
        queue=queue,
        retry=True,
        retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 1.0},
    )


def enqueue_delivery(app: Celery, job_id: str, seq: int) -> None:
    """Send one webhook delivery attempt to the webhooks queue."""
    app.send_task(
        DELIVER_WEBHOOK_TASK,
        kwargs={"job_id": job_id, "seq": seq},
        queue=Queue.WEBHOOKS.value,
        retry=True,
        retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 1.0},
    )
