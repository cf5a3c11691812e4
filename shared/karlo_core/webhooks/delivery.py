"""One delivery run: render the job as it was at the event, sign, send through the SSRF guard, record.

The body is built at send time from the job snapshot the event recorded: its status and results are the
event's, while image links are presigned afresh, so a retry hours later still carries working links.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx

from karlo_core import metrics
from karlo_core.batch_views import batch_view
from karlo_core.batches import batch_from_hash
from karlo_core.storage import Storage
from karlo_core.views import job_view
from karlo_core.webhooks.endpoints import WebhookEndpoints
from karlo_core.webhooks.events import ALL_EVENTS
from karlo_core.webhooks.guards import WebhookGuards
from karlo_core.webhooks.outbox import Attempt, Delivery, Outbox
from karlo_core.webhooks.schedule import next_delay
from karlo_core.webhooks.secrets import SecretStore
from karlo_core.webhooks.sender import SendResult, send_once
from karlo_core.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

EVENT_HEADER = "karloq-event"

# Exported at 0 from the start: an alert on increase() cannot see a series whose first sample is already 1.
for _event in ALL_EVENTS:
    metrics.WEBHOOK_DEAD_LETTERS.labels(_event)


@dataclass(frozen=True)
class RetryPolicy:
    schedule: list[float]
    jitter: float
    retry_after_max: float


@dataclass
class Deliverer:
    outbox: Outbox
    endpoints: WebhookEndpoints
    secrets: SecretStore
    http: httpx.Client
    guards: WebhookGuards
    storage: Storage
    policy: RetryPolicy
    base_url: str
    url_ttl: int
    #: Longer than one attempt can take (the HTTP timeout and signing/rendering).
    attempt_ttl: float = 60.0

    def deliver(self, job_id: str, seq: int) -> str | None:
        """Make one attempt at a due delivery; returns its new status (None: not due, or already in flight).

        Messages may be duplicated (the dispatcher re-sends after a lease); only one run attempts at a time,
        and a message for an attempt already made (the delivery now waits for a later try) does nothing.
        """
        if not self.outbox.begin_attempt(job_id, seq, ttl_seconds=self.attempt_ttl):
            return None
        try:
            delivery = self.outbox.get(job_id, seq)
            if delivery is None:
                self.outbox.forget(job_id, seq)
                return None
            if delivery.status != "pending" or (delivery.next_at or 0) > time.time() + 1:
                return None
            return self._attempt(delivery)
        finally:
            self.outbox.end_attempt(job_id, seq)

    def _attempt(self, delivery: Delivery) -> str:
        job_id = delivery.job_id
        extra = {"job_id": job_id, "delivery_id": delivery.id, "event": delivery.event}
        if self.endpoints.is_disabled(delivery.tenant, delivery.url):
            self.outbox.record(delivery, None, status="disabled")
            log.info("webhook not sent: endpoint disabled by 410", extra=extra)
            return "disabled"
        secrets_ = self.secrets.signing_secrets(delivery.tenant)
        body = self.render(delivery)
        if secrets_:
            headers = signed_headers(secrets_, msg_id=delivery.id, timestamp=int(time.time()), body=body)
            result = send_once(
                self.http,
                delivery.url,
                body,
                {**headers, EVENT_HEADER: delivery.event},
                guard=self.guards.for_tenant(delivery.tenant),
            )
        else:
            result = SendResult("no_secret", None, 0.0, "the tenant has no webhook signing secret")
        status = self._settle(delivery, result)
        log.info(
            "webhook attempt",
            extra={**extra, "outcome": result.outcome, "status_code": result.status_code, "next": status},
        )
        return status

    def render(self, delivery: Delivery) -> bytes:
        """The job as GET /v1/jobs/{id} shows it, as of the event, with fresh image links (for
        ``batch.completed``, the batch as GET /v1/batches/{id} shows it once finished)."""
        if delivery.batch:
            batch = batch_view(batch_from_hash(delivery.batch), None, base_url=self.base_url)
            return batch.model_dump_json().encode()
        view = job_view(delivery.job_at_event(), storage=self.storage, base_url=self.base_url, url_ttl=self.url_ttl)
        return view.model_dump_json().encode()

    def _settle(self, delivery: Delivery, result: SendResult) -> str:
        attempt = Attempt(time.time(), result.outcome, result.status_code, result.latency_ms, result.error)
        metrics.WEBHOOK_ATTEMPTS.labels(delivery.event, result.outcome).inc()
        if result.delivered:
            self.outbox.record(delivery, attempt, status="delivered")
            metrics.WEBHOOK_DELIVERY_LAG_SECONDS.labels(delivery.event).observe(time.time() - delivery.created_at)
            return "delivered"
        if result.gone:
            self.outbox.record(delivery, attempt, status="disabled", gone=True)
            return "disabled"
        delay = self._delay(delivery.failures_this_round + 1, result.retry_after)
        if delay is None:
            self.outbox.record(delivery, attempt, status="dead")
            metrics.WEBHOOK_DEAD_LETTERS.labels(delivery.event).inc()
            return "dead"
        self.outbox.record(delivery, attempt, status="pending", delay=delay)
        return "pending"

    def _delay(self, failures: int, retry_after: float | None) -> float | None:
        policy = self.policy
        delay = next_delay(failures, policy.schedule, jitter=policy.jitter)
        if delay is None or retry_after is None:
            return delay
        return max(delay, min(retry_after, policy.retry_after_max))
