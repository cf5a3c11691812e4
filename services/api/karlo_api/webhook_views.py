"""What clients see of webhook deliveries and of their tenant's webhook settings (never a secret's value)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from karlo_core.webhooks.events import MAX_URL_LENGTH
from karlo_core.webhooks.outbox import Delivery
from karlo_core.webhooks.secrets import SecretInfo


class AttemptView(BaseModel):
    at: datetime = Field(description="When the attempt ended")
    outcome: str = Field(description="delivered, gone, redirect, http_error, timeout, connection_error, blocked")
    status_code: int | None = Field(description="The receiver's HTTP status; null when no answer came")
    latency_ms: float = Field(description="From sending to the answer (or the error), in milliseconds")
    error: str | None = Field(description="Why the attempt failed, if it did")


class DeliveryView(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every attempt of this event")
    event: str = Field(description="job.started, job.waiting_for_quota, job.succeeded, job.failed or job.canceled")
    status: str = Field(description="pending, delivered, dead (retries exhausted) or disabled (410 Gone)")
    url: str = Field(description="The receiver")
    created_at: datetime = Field(description="When the event happened")
    next_attempt_at: datetime | None = Field(description="While pending: when the next attempt is due")
    delivered_at: datetime | None = Field(description="When a receiver answered 2xx")
    attempts: list[AttemptView] = Field(description="Every attempt so far, oldest first")


class DeliveryList(BaseModel):
    deliveries: list[DeliveryView] = Field(description="Oldest event first")


class SecretInfoView(BaseModel):
    exists: bool = Field(description="Whether the tenant has a signing secret")
    created_at: datetime | None = Field(description="When the current secret was made")
    previous_valid_until: datetime | None = Field(description="Until then the previous secret signs as well")


class RotatedSecretView(BaseModel):
    secret: str = Field(description="whsec_...; shown only in this answer")
    created_at: datetime = Field(description="When this secret was made")
    previous_valid_until: datetime | None = Field(description="Until then the previous secret signs as well")


class DisabledEndpointView(BaseModel):
    url: str = Field(description="The receiver that answered 410 Gone")
    disabled_at: datetime = Field(description="When it answered 410")
    delivery_id: str = Field(description="The delivery the receiver answered 410 Gone to")


class WebhookSettingsView(BaseModel):
    default_url: str | None = Field(description="Receiver of jobs created without their own webhook")
    disabled_endpoints: list[DisabledEndpointView] = Field(description="Receivers no longer sent to (410 Gone)")
    secret: SecretInfoView = Field(description="The signing secret's dates, never its value")


class DefaultUrlRequest(BaseModel):
    url: str | None = Field(max_length=MAX_URL_LENGTH, description="Receiver for jobs that name none; null clears it")


class ReplayView(BaseModel):
    replayed: int = Field(description="How many dead letters were scheduled to be sent again")


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def delivery_view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event=delivery.event,
        status=delivery.status,
        url=delivery.url,
        created_at=datetime.fromtimestamp(delivery.created_at, UTC),
        next_attempt_at=_time(delivery.next_at) if delivery.status == "pending" else None,
        delivered_at=_time(delivery.delivered_at),
        attempts=[
            AttemptView(
                at=datetime.fromtimestamp(float(a["at"]), UTC),
                outcome=a["outcome"],
                status_code=a.get("status_code"),
                latency_ms=float(a.get("latency_ms", 0)),
                error=a.get("error"),
            )
            for a in delivery.attempts
        ],
    )


def secret_info_view(info: SecretInfo) -> SecretInfoView:
    return SecretInfoView(
        exists=info.exists, created_at=_time(info.created_at), previous_valid_until=_time(info.previous_valid_until)
    )
