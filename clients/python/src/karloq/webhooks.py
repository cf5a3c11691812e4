"""Verify karlo-queue's webhook requests (Standard Webhooks) and read them as typed events.

A request carries ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``, one per signing secret during a rotation, space-separated). Its body is the job
as ``GET /v1/jobs/{id}`` shows it at the event.

    event = karloq.webhooks.verify(body, request.headers, secret)
    if event.type == "job.succeeded": ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError

from karloq.errors import WebhookVerificationError
from karloq.models import EventName, Job, JobStatus

SECRET_PREFIX = "whsec_"  # noqa: S105 (the scheme's prefix)
#: Requests older or newer than this (seconds) are refused, so a captured request cannot be replayed later.
DEFAULT_TOLERANCE_SECONDS = 300
#: The unsigned header naming the event; it must agree with the signed body.
EVENT_HEADER = "karloq-event"

EVENT_FOR_STATUS: dict[str, EventName] = {
    JobStatus.RUNNING: "job.started",
    JobStatus.WAITING_FOR_QUOTA: "job.waiting_for_quota",
    JobStatus.SUCCEEDED: "job.succeeded",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELED: "job.canceled",
}


class WebhookEvent(BaseModel):
    """A verified webhook request."""

    id: str
    """The ``webhook-id``: the same on every attempt of one event, so receivers can drop duplicates."""
    type: EventName
    timestamp: datetime
    """When this attempt was signed."""
    job: Job
    """The job as it was at the event."""


def _key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the webhook secret is not whsec_ followed by base64") from None
    if not key:
        raise WebhookVerificationError("the webhook secret is empty")
    return key


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<signature>`` of one request: what the service sends, and what receivers compare with."""
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing {name} header")


def _timestamp(value: str, tolerance: float, now: float) -> int:
    try:
        timestamp = int(value)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {now - timestamp:+.0f} s from now; at most {tolerance:g} s is accepted"
        )
    return timestamp


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> WebhookEvent:
    """The event of a webhook request whose signature matches one of ``secret`` (several during a rotation).

    Raises :class:`karloq.WebhookVerificationError` on a missing header, a signature that matches no secret,
    a timestamp further than ``tolerance`` seconds from now, or a body that is not a job.
    Pass the body exactly as received (bytes), before any JSON parsing.
    """
    raw = body.encode() if isinstance(body, str) else body
    msg_id = _header(headers, "webhook-id")
    timestamp = _timestamp(_header(headers, "webhook-timestamp"), tolerance, time.time() if now is None else now)
    offered = [part.strip() for part in _header(headers, "webhook-signature").split(" ") if part.strip()]
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise WebhookVerificationError("no secret to verify with")
    expected = [sign(s, msg_id=msg_id, timestamp=timestamp, body=raw) for s in secrets]
    if not any(hmac.compare_digest(e, o) for e in expected for o in offered):
        raise WebhookVerificationError("no webhook-signature matches the secret")
    try:
        job = Job.model_validate_json(raw)
    except ValidationError as exc:
        raise WebhookVerificationError(f"the body is not a job: {exc.error_count()} problems") from None
    event = EVENT_FOR_STATUS.get(job.status)
    if event is None:
        raise WebhookVerificationError(f"no event is sent for status {job.status!r}")
    named = next((v for k, v in headers.items() if k.lower() == EVENT_HEADER), None)
    if named is not None and named != event:
        raise WebhookVerificationError(f"{EVENT_HEADER} says {named} but the signed body is a {event} event")
    return WebhookEvent(id=msg_id, type=event, timestamp=datetime.fromtimestamp(timestamp, UTC), job=job)
